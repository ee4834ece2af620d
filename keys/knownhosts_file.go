package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostDB is one reading of the known_hosts files. It is never modified, so
// checks can use it without a lock.
type hostDB struct {
	match   ssh.HostKeyCallback // from knownhosts.New; nil when no file has entries
	revoked map[string]KnownKey // @revoked lines by plain key blob
	ca      map[fileLine]bool   // @cert-authority lines
	probe   ssh.PublicKey       // a fresh key no file lists, to look hosts up
}

type fileLine struct {
	file string
	line int
}

// unusedRemote is passed to the knownhosts callback as the remote address.
// That callback only looks at the address when the host name is empty, which
// canonicalHostPort rules out; it must still be a valid "host:port".
var unusedRemote net.Addr = &net.TCPAddr{IP: net.IPv4zero}

// verify checks key for hp ("host:port", canonical). userFile is named in a
// HostKeyUnknownError.
func (db *hostDB) verify(hp string, key ssh.PublicKey, userFile string) error {
	host := knownhosts.Normalize(hp)
	if kk, ok := db.revokedEntry(key); ok {
		return fmt.Errorf("host key for %s is %s, which %s:%d marks @revoked: %w",
			host, describeKey(key), kk.File, kk.Line, ErrHostKeyRevoked)
	}
	if cert, ok := key.(*ssh.Certificate); ok {
		if len(db.ca) > 0 && db.match(hp, unusedRemote, cert) == nil {
			return nil
		}
		key = cert.Key // no trusted authority: check the plain key, like OpenSSH
	}
	known, err := db.known(hp)
	if err != nil {
		return fmt.Errorf("check host key for %s: %w", host, err)
	}
	if len(known) == 0 {
		return &HostKeyUnknownError{Host: host, Offered: key, File: userFile}
	}
	for _, kk := range known {
		if keysEqual(kk.Key, key) {
			return nil
		}
	}
	return &HostKeyChangedError{Host: host, Known: known, Offered: key}
}

// known returns the plain host keys that the files list for hp, in file
// order. It asks the knownhosts callback about a key that no file lists; the
// resulting KeyError holds every key listed for the host.
func (db *hostDB) known(hp string) ([]KnownKey, error) {
	if db.match == nil {
		return nil, nil
	}
	err := db.match(hp, unusedRemote, db.probe)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		if err == nil {
			err = errors.New("known_hosts accepted a key it cannot list")
		}
		return nil, err
	}
	var known []KnownKey
	for _, w := range keyErr.Want {
		if !db.ca[fileLine{w.Filename, w.Line}] {
			known = append(known, KnownKey{Key: w.Key, File: w.Filename, Line: w.Line})
		}
	}
	return known, nil
}

// revokedEntry returns the @revoked line for key (for a certificate: for its
// key or its signing key).
func (db *hostDB) revokedEntry(key ssh.PublicKey) (KnownKey, bool) {
	kk, ok := db.revoked[plainBlob(key)]
	if cert, isCert := key.(*ssh.Certificate); !ok && isCert && cert.SignatureKey != nil {
		kk, ok = db.revoked[plainBlob(cert.SignatureKey)]
	}
	return kk, ok
}

// plainBlob returns the wire form of key, or of the key a certificate
// certifies.
func plainBlob(key ssh.PublicKey) string {
	if cert, ok := key.(*ssh.Certificate); ok && cert.Key != nil {
		key = cert.Key
	}
	return string(key.Marshal())
}

func keysEqual(a, b ssh.PublicKey) bool {
	return bytes.Equal(a.Marshal(), b.Marshal())
}

// loadHostDB reads and parses files. knownhosts.New reads them a second time,
// so they are read a third time to make sure both parsers saw the same bytes.
func loadHostDB(files []string) (*hostDB, error) {
	for range 3 {
		before, err := readKnownHostsFiles(files)
		if err != nil {
			return nil, err
		}
		db, dbErr := parseHostDB(files, before)
		after, err := readKnownHostsFiles(files)
		if err != nil {
			return nil, err
		}
		if slices.EqualFunc(before, after, bytes.Equal) {
			return db, dbErr
		}
	}
	return nil, errors.New("read known_hosts: the files kept changing while being read")
}

func readKnownHostsFiles(files []string) ([][]byte, error) {
	contents := make([][]byte, len(files))
	for i, f := range files {
		data, err := readKnownHostsFile(f)
		if err != nil {
			return nil, err
		}
		contents[i] = data
	}
	return contents, nil
}

// readKnownHostsFile returns the content of path, or nil if it is missing or
// os.DevNull.
func readKnownHostsFile(path string) ([]byte, error) {
	if path == os.DevNull {
		return nil, nil
	}
	data, err := readChecked(path, checkRegular, maxKnownHostsSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	if len(data) > maxKnownHostsSize {
		return nil, fmt.Errorf("read known_hosts %s: file is larger than 16 MiB", path)
	}
	return data, nil
}

func parseHostDB(files []string, contents [][]byte) (*hostDB, error) {
	// The probe is 32 random bytes taken as an Ed25519 public key: no file
	// lists it (but with chance 2^-256), and unlike a generated key it needs
	// no scalar multiplication, whose first use builds a table (~1.3 ms
	// here) that a client signing through ssh-agent never needs.
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if _, err := rand.Read(pub); err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	db := &hostDB{revoked: make(map[string]KnownKey), ca: make(map[fileLine]bool), probe: probe}
	var withEntries []string
	for i, f := range files {
		n, err := db.parseFile(f, contents[i])
		if err != nil {
			return nil, err
		}
		if n > 0 {
			withEntries = append(withEntries, f)
		}
	}
	if len(withEntries) > 0 {
		if db.match, err = knownhosts.New(withEntries...); err != nil {
			return nil, fmt.Errorf("read known_hosts: %w", err)
		}
	}
	return db, nil
}

// parseFile checks every line of one file, records its @revoked and
// @cert-authority lines, and returns how many entries it holds.
func (db *hostDB) parseFile(name string, data []byte) (int, error) {
	entries := 0
	for n, raw := range numberedLines(data) {
		if len(bytes.TrimRight(raw, "\r\n")) > maxLineLength {
			return 0, fmt.Errorf("parse known_hosts %s:%d: line is longer than 16 KiB", name, n)
		}
		line := trimLine(raw)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, key, err := parseKnownHostsLine(line)
		if errors.Is(err, errForeignKeyType) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("parse known_hosts %s:%d: %w", name, n, err)
		}
		entries++
		switch marker {
		case markerRevoked:
			if _, dup := db.revoked[plainBlob(key)]; !dup {
				db.revoked[plainBlob(key)] = KnownKey{Key: key, File: name, Line: n}
			}
		case markerCA:
			db.ca[fileLine{name, n}] = true
		}
	}
	return entries, nil
}

const (
	markerCA      = "@cert-authority"
	markerRevoked = "@revoked"
)

// errForeignKeyType marks a well-formed line whose key type this package
// does not implement.
var errForeignKeyType = errors.New("unsupported key type")

// parseKnownHostsLine parses one trimmed, non-comment line:
// "[marker] patterns keytype base64 [comment]". It refuses every line that
// knownhosts would skip, so that both agree on which lines count.
func parseKnownHostsLine(line []byte) (marker string, key ssh.PublicKey, err error) {
	fields := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) > 0 && (fields[0] == markerCA || fields[0] == markerRevoked) {
		marker, fields = fields[0], fields[1:]
	}
	if len(fields) > 0 && strings.HasPrefix(fields[0], "@") {
		return "", nil, fmt.Errorf("unknown marker %q", fields[0])
	}
	if len(fields) < 3 {
		return "", nil, errors.New("want host patterns, key type and key")
	}
	patterns, typ := fields[0], fields[1]
	blob, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		return "", nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	if key, err = ssh.ParsePublicKey(blob); err != nil {
		if foreignKeyType(typ, blob) {
			return "", nil, errForeignKeyType
		}
		return "", nil, fmt.Errorf("malformed key: %w", err)
	}
	if key.Type() != typ {
		return "", nil, fmt.Errorf("key type %q does not match the key, which is %s", typ, key.Type())
	}
	if marker != markerRevoked {
		if err := checkHostPatterns(patterns); err != nil {
			return "", nil, err
		}
	}
	return marker, key, nil
}

// foreignKeyType reports whether blob is a key of type typ, named on the line
// and in the blob alike, that this package does not know.
func foreignKeyType(typ string, blob []byte) bool {
	if len(blob) < 4 {
		return false
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return false
	}
	algos := []ssh.Algorithms{ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()}
	for _, a := range algos {
		if slices.Contains(a.HostKeys, typ) || slices.Contains(a.PublicKeyAuths, typ) {
			return false
		}
	}
	return true
}

// checkHostPatterns checks a host field the way knownhosts parses it: one
// hashed name "|1|salt|hash", or comma-separated patterns, each optionally
// negated with '!', where one starting with '[' must be "[host]:port".
func checkHostPatterns(patterns string) error {
	if strings.HasPrefix(patterns, "|") {
		parts := strings.Split(patterns, "|")
		if len(parts) != 4 || parts[1] != "1" {
			return fmt.Errorf("malformed hashed host name %q", patterns)
		}
		for _, p := range parts[2:] {
			if _, err := base64.StdEncoding.DecodeString(p); err != nil {
				return fmt.Errorf("malformed hashed host name %q: %w", patterns, err)
			}
		}
		return nil
	}
	for _, p := range strings.Split(patterns, ",") {
		if p == "!" {
			return fmt.Errorf("host pattern %q: '!' without a host", patterns)
		}
		p = strings.TrimPrefix(p, "!")
		if err := checkWildcards(p); err != nil {
			return err
		}
		if strings.HasPrefix(p, "[") {
			if _, _, err := net.SplitHostPort(p); err != nil {
				return fmt.Errorf("host pattern %q: want [host]:port", p)
			}
		}
	}
	return nil
}

// maxWildcards bounds the '*' in one host pattern: knownhosts matches them by
// backtracking, which takes time exponential in their number (15 of them
// against a 25-character name take seconds).
const maxWildcards = 4

func checkWildcards(p string) error {
	if strings.Contains(p, "**") {
		return fmt.Errorf("host pattern %q: write '*' instead of '**'", p)
	}
	if strings.Count(p, "*") > maxWildcards {
		return fmt.Errorf("host pattern %q has more than %d '*' wildcards", p, maxWildcards)
	}
	return nil
}

// appendKnownHost appends line to the known_hosts file at path (following a
// symbolic link), writing the whole file atomically with its mode kept, or
// creating it with mode 0600 in a directory created with mode 0700.
func appendKnownHost(path, line string) error {
	target, fi, err := appendTarget(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	var data []byte
	if fi == nil {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
	} else {
		mode = fi.Mode().Perm()
		if data, err = readChecked(target, checkRegular, maxKnownHostsSize); err != nil {
			return err
		}
		if len(data) > maxKnownHostsSize {
			return fmt.Errorf("%s is larger than 16 MiB", target)
		}
	}
	return WriteFileAtomic(target, appendLine(data, []byte(line)), mode)
}

// appendTarget resolves a symbolic link at path and returns the file to
// write, with its FileInfo, or nil if it does not exist yet. Anything but a
// regular file is refused: renaming over /dev/null must never happen.
func appendTarget(path string) (string, fs.FileInfo, error) {
	target := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return "", nil, err
		}
	}
	fi, err := os.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return target, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a regular file", target)
	}
	return target, fi, nil
}
