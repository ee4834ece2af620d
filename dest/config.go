package dest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/loopgate/loopgate/keys"
)

// Config files are small; these bounds keep a broken one from stalling the
// client. The parser's cost grows with the square of a line's length.
const (
	maxConfigSize = 1 << 20
	maxLineLength = 16 << 10
)

// sshConfig is a decoded config file and its name, for error messages. A nil
// cfg answers every lookup with "unset".
type sshConfig struct {
	cfg  *ssh_config.Config
	file string
}

// loadConfig reads the file that -F names: "none" (any case, as in OpenSSH)
// is no file, "" is home/.ssh/config when it exists.
func loadConfig(name, home string) (*sshConfig, error) {
	switch {
	case strings.EqualFold(name, "none"):
		return &sshConfig{}, nil
	case name == "":
		path := filepath.Join(home, ".ssh", "config")
		c, err := readConfig(path, true)
		if errors.Is(err, fs.ErrNotExist) {
			return &sshConfig{}, nil
		}
		return c, err
	}
	return readConfig(name, false)
}

// readConfig refuses a group- or world-writable file, or one owned by someone
// other than the user or root, as OpenSSH does for ~/.ssh/config. A file
// named with -F that is not a regular file (/dev/null, a pipe from the shell)
// is read without the check, as OpenSSH reads it.
func readConfig(path string, isDefault bool) (*sshConfig, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	if isDefault || fi.Mode().IsRegular() {
		if err := keys.CheckNotWritable(path); err != nil {
			return nil, fmt.Errorf("bad owner or permissions on %s: %w", path, err)
		}
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	cfg, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	return &sshConfig{cfg: cfg, file: path}, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err == nil && len(data) > maxConfigSize {
		err = fmt.Errorf("%s is larger than %d bytes", path, maxConfigSize)
	}
	return data, err
}

// decode runs the ssh_config parser on data, turning a panic inside it into
// an error: the config file is input, and no input may crash the client.
func decode(data []byte) (cfg *ssh_config.Config, err error) {
	if err := checkLines(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
		if err != nil {
			err = oneLine(err)
		}
	}()
	return ssh_config.Decode(bytes.NewReader(data))
}

func checkLines(data []byte) error {
	for n := 1; len(data) > 0; n++ {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		if len(line) > maxLineLength {
			return fmt.Errorf("line %d is longer than %d bytes", n, maxLineLength)
		}
		data = rest
	}
	return nil
}

// oneLine folds an error message that spans lines (the parser ends some with
// a newline) into one.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

// hostConfig answers lookups for one alias, and words errors with the file
// and the alias.
type hostConfig struct {
	*sshConfig
	alias string
}

func (c *sshConfig) host(alias string) hostConfig {
	return hostConfig{sshConfig: c, alias: alias}
}

// get returns the first value of key in a block matching the alias, or "".
func (h hostConfig) get(key string) (string, error) {
	if h.cfg == nil {
		return "", nil
	}
	v, err := h.cfg.Get(h.alias, key)
	if err != nil {
		return "", h.errorf("%s: %w", key, err)
	}
	return v, nil
}

// getAll returns every value of key in blocks matching the alias, in order.
func (h hostConfig) getAll(key string) ([]string, error) {
	if h.cfg == nil {
		return nil, nil
	}
	v, err := h.cfg.GetAll(h.alias, key)
	if err != nil {
		return nil, h.errorf("%s: %w", key, err)
	}
	return v, nil
}

// errorf prefixes an error with the config file (when there is one) and the
// host alias it was resolving.
func (h hostConfig) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if h.file == "" {
		return fmt.Errorf("host %q: %w", h.alias, err)
	}
	return fmt.Errorf("ssh config %s: host %q: %w", h.file, h.alias, err)
}

// flag reads a yes/no keyword (also true/false, any case, as OpenSSH).
func (h hostConfig) flag(key string) (bool, error) {
	v, err := h.get(key)
	if err != nil || v == "" {
		return false, err
	}
	switch strings.ToLower(v) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, h.errorf("%s %q: want yes or no", key, v)
}

// duration reads a time keyword in OpenSSH's format: "30", "30s", "1m30s",
// "1h"; units s, m, h, d, w in any case; a bare number is seconds.
func (h hostConfig) duration(key string) (time.Duration, error) {
	v, err := h.get(key)
	if err != nil || v == "" {
		return 0, err
	}
	secs, ok := parseSeconds(v)
	if !ok {
		return 0, h.errorf("%s %q: want a time such as 30, 30s, 5m or 1h30m", key, v)
	}
	return time.Duration(secs) * time.Second, nil
}

// count reads a non-negative integer keyword.
func (h hostConfig) count(key string) (int, error) {
	v, err := h.get(key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 0, h.errorf("%s %q: want a non-negative number", key, v)
	}
	return int(n), nil
}

var timeUnits = map[byte]int64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}

// parseSeconds parses OpenSSH's time format, up to math.MaxInt32 seconds.
func parseSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var total int64
	for s != "" {
		digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
		if digits == 0 || digits > 10 {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:digits], 10, 64)
		s = s[digits:]
		unit := int64(1)
		if s != "" {
			var ok bool
			if unit, ok = timeUnits[lowerASCII(s[0])]; !ok {
				return 0, false
			}
			s = s[1:]
		}
		if total += n * unit; total > math.MaxInt32 {
			return 0, false
		}
	}
	return total, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerString lowercases ASCII letters only, as OpenSSH does to host names.
func lowerString(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lowerASCII(b[i])
	}
	return string(b)
}
