package keys

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Limits on what ParseAuthorizedKeys reads.
const (
	maxAuthorizedKeysSize = 1 << 20
	maxLineLength         = 16 << 10
	maxReportedErrors     = 10
)

// AuthorizedKey is one parsed authorized_keys line.
type AuthorizedKey struct {
	Line    int // 1-based line number; ignored by FormatAuthorizedKey and UpsertAuthorizedKey
	Key     ssh.PublicKey
	Comment string // the comment field, which names the identity; "" if absent
	Options Options
}

// ParseAuthorizedKeys parses a whole authorized_keys file. Blank lines and
// lines starting with '#' are skipped. Every error reads "name:LINE: what";
// when several lines are bad, the errors of the first ten are joined.
//
// A line is refused when OpenSSH would refuse it, and also when it carries an
// option the gateway cannot honour (see [Options]), a certificate, an RSA key
// under 1024 bits, a comment with control characters, or a key that an
// earlier line already holds. Files over 1 MiB and lines over 16 KiB are
// refused.
func ParseAuthorizedKeys(data []byte, name string) ([]AuthorizedKey, error) {
	if len(data) > maxAuthorizedKeysSize {
		return nil, fmt.Errorf("%s: file is larger than 1 MiB", name)
	}
	var keys []AuthorizedKey
	var errs []error
	firstLine := make(map[string]int)
	for n, raw := range numberedLines(data) {
		k, ok, err := parseNumberedLine(raw, n)
		if err == nil && ok {
			blob := string(k.Key.Marshal())
			if first, dup := firstLine[blob]; dup {
				err = fmt.Errorf("duplicate key (already on line %d)", first)
			} else {
				firstLine[blob] = n
				keys = append(keys, k)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, n, err))
			if len(errs) == maxReportedErrors {
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

// parseNumberedLine parses one raw line (terminator included); ok is false for
// blank and comment lines.
func parseNumberedLine(raw []byte, n int) (AuthorizedKey, bool, error) {
	if len(bytes.TrimRight(raw, "\r\n")) > maxLineLength {
		return AuthorizedKey{}, false, errors.New("line is longer than 16 KiB")
	}
	line := trimLine(raw)
	if len(line) == 0 || line[0] == '#' {
		return AuthorizedKey{}, false, nil
	}
	k, _, err := parseLine(line)
	k.Line = n
	return k, err == nil, err
}

// numberedLines yields each line of data with its terminator and its 1-based
// number.
func numberedLines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		n := 0
		for line := range bytes.Lines(data) {
			n++
			if !yield(n, line) {
				return
			}
		}
	}
}

// trimLine drops the line terminator (LF or CRLF) and surrounding blanks.
func trimLine(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	return bytes.Trim(raw, " \t")
}

// parseLine parses one trimmed, non-comment line; hasOptions reports whether
// it has an options field.
func parseLine(line []byte) (k AuthorizedKey, hasOptions bool, err error) {
	key, comment, libOptions, rest, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return AuthorizedKey{}, false, fmt.Errorf("malformed key: %w", err)
	}
	if len(rest) != 0 {
		return AuthorizedKey{}, false, errors.New("malformed key: more than one line")
	}
	if err := CheckUserKey(key); err != nil {
		return AuthorizedKey{}, false, err
	}
	if err := checkComment(comment); err != nil {
		return AuthorizedKey{}, false, err
	}
	field := optionsField(string(line), key, libOptions)
	opts, err := parseOptions(field)
	if err != nil {
		return AuthorizedKey{}, false, err
	}
	return AuthorizedKey{Key: key, Comment: comment, Options: opts}, field != "", nil
}

// optionsField returns the options field of a line that ssh.ParseAuthorizedKey
// accepted, found the way that function found it: a line whose first word is
// the key type has none; otherwise the field runs to the first blank outside
// double quotes (a quote after a backslash does not count).
func optionsField(line string, key ssh.PublicKey, libOptions []string) string {
	first, _, _ := strings.Cut(strings.ReplaceAll(line, "\t", " "), " ")
	if first == key.Type() && len(libOptions) == 0 {
		return ""
	}
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch b := line[i]; {
		case !inQuote && (b == ' ' || b == '\t'):
			return line[:i]
		case b == '"' && (i == 0 || line[i-1] != '\\'):
			inQuote = !inQuote
		}
	}
	return line
}

// checkComment refuses comments that would not survive being written out and
// read back: control characters other than tab, or surrounding blanks.
func checkComment(c string) error {
	if strings.Trim(c, " \t") != c {
		return fmt.Errorf("comment %q has leading or trailing blanks", c)
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return fmt.Errorf("comment %q contains control characters", c)
		}
	}
	return nil
}

// FormatAuthorizedKey returns k as one authorized_keys line without a trailing
// newline: options (in a fixed order, values quoted, omitted when empty), key
// type, base64 key and comment. It returns "" if k.Key is nil. It does not
// validate k; [UpsertAuthorizedKey] does.
func FormatAuthorizedKey(k AuthorizedKey) string {
	if k.Key == nil {
		return ""
	}
	var b strings.Builder
	if opts := k.Options.String(); opts != "" {
		b.WriteString(opts)
		b.WriteByte(' ')
	}
	b.Write(bytes.TrimSuffix(ssh.MarshalAuthorizedKey(k.Key), []byte("\n")))
	if k.Comment != "" {
		b.WriteByte(' ')
		b.WriteString(k.Comment)
	}
	return b.String()
}
