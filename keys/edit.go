package keys

import (
	"bytes"
	"errors"
	"fmt"
)

// editName names the data in errors from UpsertAuthorizedKey and
// RemoveAuthorizedKeys, which do not know the file's path.
const editName = "authorized_keys"

// UpsertAuthorizedKey returns data with a line for entry.Key: an existing line
// holding the same key (under any comment) is replaced in place by
// FormatAuthorizedKey(entry), keeping its line ending; otherwise the line is
// appended, after a newline if data does not end with one. Every other byte
// of data is kept. It returns an error if data does not parse, or if entry
// would not read back as itself (no key, a certificate, a bad comment or
// option).
func UpsertAuthorizedKey(data []byte, entry AuthorizedKey) ([]byte, error) {
	line, err := entryLine(entry)
	if err != nil {
		return nil, fmt.Errorf("upsert authorized key: %w", err)
	}
	keys, err := ParseAuthorizedKeys(data, editName)
	if err != nil {
		return nil, err
	}
	blob := string(entry.Key.Marshal())
	for _, k := range keys {
		if string(k.Key.Marshal()) == blob {
			return replaceLine(data, k.Line, line), nil
		}
	}
	out := appendLine(data, line)
	if len(out) > maxAuthorizedKeysSize {
		return nil, fmt.Errorf("upsert authorized key: %s would be larger than 1 MiB", editName)
	}
	return out, nil
}

// entryLine formats entry and checks that the line parses back to the same
// key and comment.
func entryLine(entry AuthorizedKey) ([]byte, error) {
	if entry.Key == nil {
		return nil, errors.New("no key")
	}
	if err := checkComment(entry.Comment); err != nil {
		return nil, err
	}
	line := []byte(FormatAuthorizedKey(entry))
	if len(line) > maxLineLength {
		return nil, errors.New("line would be longer than 16 KiB")
	}
	k, _, err := parseLine(line)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.Key.Marshal(), entry.Key.Marshal()) || k.Comment != entry.Comment {
		return nil, fmt.Errorf("entry does not read back as itself: %q", line)
	}
	return line, nil
}

// replaceLine returns data with line number n (1-based) replaced by line,
// keeping the old line's terminator.
func replaceLine(data []byte, n int, line []byte) []byte {
	var out bytes.Buffer
	for i, raw := range numberedLines(data) {
		if i != n {
			out.Write(raw)
			continue
		}
		out.Write(line)
		out.Write(raw[len(bytes.TrimRight(raw, "\r\n")):])
	}
	return out.Bytes()
}

// appendLine appends line to data using the file's line ending (CRLF if data
// already uses it, else LF).
func appendLine(data, line []byte) []byte {
	eol := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		eol = "\r\n"
	}
	out := bytes.Clone(data)
	switch {
	case len(out) == 0:
	case out[len(out)-1] == '\r': // a dangling CR: complete its line, do not start a "\r\r\n" one
		out = append(out, '\n')
	case out[len(out)-1] != '\n':
		out = append(out, eol...)
	}
	out = append(out, line...)
	return append(out, eol...)
}

// RemoveAuthorizedKeys returns data without the lines whose comment equals
// name, and how many lines it removed. Every other byte is kept. It returns
// an error if data does not parse or name is empty.
func RemoveAuthorizedKeys(data []byte, name string) ([]byte, int, error) {
	if name == "" {
		return nil, 0, errors.New("remove authorized keys: empty name")
	}
	keys, err := ParseAuthorizedKeys(data, editName)
	if err != nil {
		return nil, 0, err
	}
	drop := make(map[int]bool)
	for _, k := range keys {
		if k.Comment == name {
			drop[k.Line] = true
		}
	}
	if len(drop) == 0 {
		return bytes.Clone(data), 0, nil
	}
	var out bytes.Buffer
	for n, raw := range numberedLines(data) {
		if !drop[n] {
			out.Write(raw)
		}
	}
	return out.Bytes(), len(drop), nil
}

// LoadAuthorizedKeys reads and parses the authorized_keys file at path after
// [CheckNotWritable] accepts it. Parse errors name path and the line.
func LoadAuthorizedKeys(path string) ([]AuthorizedKey, error) {
	data, err := readChecked(path, checkNotWritable, maxAuthorizedKeysSize)
	if err != nil {
		return nil, fmt.Errorf("load authorized keys: %w", err)
	}
	return ParseAuthorizedKeys(data, path)
}
