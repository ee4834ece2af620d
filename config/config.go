package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/limits"
	"github.com/loopgate/loopgate/policy"
)

// Defaults for the settings a config file may leave out.
const (
	DefaultListen       = ":2222"
	DefaultDialTimeout  = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	// MaxSize bounds the config file; anything larger is not a config.
	MaxSize = 1 << 20
)

// Config is a parsed gateway configuration.
type Config struct {
	// Path is the file the config was read from; "" if parsed from memory.
	Path string
	// Listen is the address the SSH server listens on.
	Listen string
	// HostKeys are the host private key files, absolute or relative to the
	// working directory (already joined with the config's directory).
	HostKeys []string
	// AuthorizedKeysFile is the OpenSSH authorized_keys file.
	AuthorizedKeysFile string
	// Services are the loopback addresses the gateway may dial, in file order.
	Services []policy.Service
	// Grants maps an identity name to the services it may reach.
	Grants map[string][]string
	// TokenKeyFile is the private key the gateway signs tokens with; ""
	// if no service has a token profile.
	TokenKeyFile string
	// Tokens maps a service to its token profile; a service without one
	// gets no tokens.
	Tokens map[string]keys.TokenProfile
	// DialTimeout bounds each connection to a service.
	DialTimeout time.Duration
	// Limits holds the limits the file sets; a zero field means the
	// gateway's default (limits.Defaults).
	Limits limits.Limits
	// Algorithms holds the algorithm lists the file sets, by kind.
	Algorithms map[keys.AlgorithmKind][]string
	// AllowInsecureAlgorithms lets Algorithms name weak algorithms.
	AllowInsecureAlgorithms bool
	// DrainTimeout is how long shutdown waits for open tunnels.
	DrainTimeout time.Duration

	dir string
}

// Dir is the directory relative paths in the config are resolved against.
func (c *Config) Dir() string { return c.dir }

// Policy builds the policy the config describes.
func (c *Config) Policy() (*policy.Policy, error) {
	return policy.New(c.Services, c.Grants)
}

// Load reads and parses the config file at path. The file must not be
// writable by group or others.
func Load(path string) (*Config, error) {
	if err := keys.CheckNotWritable(path); err != nil {
		return nil, err
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(data, path, filepath.Dir(abs))
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, MaxSize)
	}
	return data, nil
}

// Parse parses config text. name is used in error messages; dir is the
// directory relative paths are resolved against.
func Parse(data []byte, name, dir string) (*Config, error) {
	p := parser{name: name, dir: dir, cfg: &Config{
		Path:         name,
		dir:          dir,
		Grants:       map[string][]string{},
		Tokens:       map[string]keys.TokenProfile{},
		DialTimeout:  DefaultDialTimeout,
		DrainTimeout: DefaultDrainTimeout,
	}, seen: map[string]int{}}
	lines, err := splitLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, line := range lines {
		if err := p.line(i+1, line); err != nil {
			return nil, err
		}
	}
	return p.finish()
}

// splitLines returns the lines of data, refusing bytes that have no place
// in a config file (NUL and other control characters but tab).
func splitLines(data []byte) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxSize)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		for _, r := range line {
			if r < 0x20 && r != '\t' || r == 0x7f {
				return nil, fmt.Errorf("line %d: control character %q", len(lines)+1, r)
			}
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

// fields splits a line into keyword and arguments, dropping comments.
func fields(line string) []string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return strings.Fields(line)
}
