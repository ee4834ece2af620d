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
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxKnownHostsSize bounds what is read from one known_hosts file.
const maxKnownHostsSize = 16 << 20

// HostKeyPolicy says what to do with a host that known_hosts does not list.
type HostKeyPolicy int

const (
	// Strict refuses unknown hosts (OpenSSH StrictHostKeyChecking yes).
	Strict HostKeyPolicy = iota
	// AcceptNew records unknown hosts and refuses changed ones
	// (StrictHostKeyChecking accept-new).
	AcceptNew
)

// String returns the OpenSSH name of the policy.
func (p HostKeyPolicy) String() string {
	switch p {
	case Strict:
		return "strict"
	case AcceptNew:
		return "accept-new"
	}
	return "HostKeyPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ErrHostKeyRevoked is wrapped by the error for a host key that a known_hosts
// file marks @revoked.
var ErrHostKeyRevoked = errors.New("host key is revoked")

// KnownKey is a host key listed in a known_hosts file.
type KnownKey struct {
	Key  ssh.PublicKey
	File string
	Line int // 1-based
}

// HostKeyChangedError refuses a host that known_hosts lists with other keys
// than the one it offered, whatever the policy.
type HostKeyChangedError struct {
	Host    string // as known_hosts writes it: "host" for port 22, else "[host]:port"
	Known   []KnownKey
	Offered ssh.PublicKey
}

func (e *HostKeyChangedError) Error() string {
	known := make([]string, len(e.Known))
	for i, k := range e.Known {
		known[i] = fmt.Sprintf("%s (%s:%d)", describeKey(k.Key), k.File, k.Line)
	}
	return fmt.Sprintf("host key for %s has CHANGED: known_hosts has %s, the host offered %s; refusing to connect (if the device was re-keyed, %s)",
		e.Host, strings.Join(known, ", "), describeKey(e.Offered), removeAdvice(e.Known))
}

// removeAdvice says which lines to delete: "remove line 3 from F", "remove
// lines 3, 7 from F and line 1 from G".
func removeAdvice(known []KnownKey) string {
	var files []string
	lines := make(map[string][]string)
	for _, k := range known {
		if _, ok := lines[k.File]; !ok {
			files = append(files, k.File)
		}
		lines[k.File] = append(lines[k.File], strconv.Itoa(k.Line))
	}
	parts := make([]string, len(files))
	for i, f := range files {
		word := "line"
		if len(lines[f]) > 1 {
			word = "lines"
		}
		parts[i] = fmt.Sprintf("%s %s from %s", word, strings.Join(lines[f], ", "), f)
	}
	return "remove " + strings.Join(parts, " and ")
}

// HostKeyUnknownError refuses, under [Strict], a host that known_hosts does
// not list.
type HostKeyUnknownError struct {
	Host    string // as known_hosts writes it: "host" for port 22, else "[host]:port"
	Offered ssh.PublicKey
	File    string // the user's known_hosts file, where AcceptNew would record the key
}

func (e *HostKeyUnknownError) Error() string {
	return fmt.Sprintf("host key for %s is not known: %s; compare it with the device's (gateway init printed it), then run again with --accept-new, or add this line to %s: %s",
		e.Host, describeKey(e.Offered), e.File, e.Line())
}

// Line returns the known_hosts line that accepts the offered key, without a
// newline; it is what AcceptNew writes.
func (e *HostKeyUnknownError) Line() string {
	if !usableKey(e.Offered) {
		return e.Host
	}
	return e.Host + " " + publicKeyText(e.Offered)
}

// publicKeyText returns "type base64" for k.
func publicKeyText(k ssh.PublicKey) string {
	return string(bytes.TrimSuffix(ssh.MarshalAuthorizedKey(k), []byte("\n")))
}

// describeKey returns the key type as OpenSSH names it and the SHA256
// fingerprint: "ED25519 SHA256:...".
func describeKey(k ssh.PublicKey) string {
	if !usableKey(k) {
		return "no key"
	}
	return keyTypeName(k) + " " + ssh.FingerprintSHA256(k)
}

// usableKey reports whether k can be marshalled without panicking.
func usableKey(k ssh.PublicKey) bool {
	cert, ok := k.(*ssh.Certificate)
	return k != nil && (!ok || cert.Key != nil && cert.SignatureKey != nil)
}

func keyTypeName(k ssh.PublicKey) string {
	if cert, ok := k.(*ssh.Certificate); ok {
		return keyTypeName(cert.Key) + "-CERT"
	}
	switch t := k.Type(); t {
	case ssh.KeyAlgoED25519:
		return "ED25519"
	case ssh.KeyAlgoRSA:
		return "RSA"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return "ECDSA"
	case ssh.KeyAlgoSKED25519:
		return "ED25519-SK"
	case ssh.KeyAlgoSKECDSA256:
		return "ECDSA-SK"
	case ssh.InsecureKeyAlgoDSA:
		return "DSA"
	default:
		return t
	}
}

// KnownHosts checks and records host keys in OpenSSH known_hosts files. It is
// safe for concurrent use.
type KnownHosts struct {
	files  []string
	policy HostKeyPolicy

	mu sync.Mutex // guards db and serialises AcceptNew writes
	db *hostDB
}

// OpenKnownHosts reads the given known_hosts files. files[0] is the user's
// file, the one AcceptNew writes to. A missing file (or os.DevNull) is treated
// as empty; a file that exists and does not parse is an error naming the file
// and line. Lines with a key type this package cannot parse are skipped, as
// OpenSSH skips them. Unlike OpenSSH, a host pattern with "**" or more than 4
// '*' is an error, because matching it could take exponential time.
//
// Host names match the way OpenSSH matches them with CheckHostIP no: only the
// name the user gave (lowercased) is looked up, never the address it resolved
// to. Plain names, patterns with '*', '?' and '!', "[host]:port", hashed names
// (ssh-keygen -H), @revoked and @cert-authority lines are understood.
func OpenKnownHosts(files []string, policy HostKeyPolicy) (*KnownHosts, error) {
	if len(files) == 0 {
		return nil, errors.New("open known_hosts: no file given")
	}
	if policy != Strict && policy != AcceptNew {
		return nil, fmt.Errorf("open known_hosts: unknown policy %d", int(policy))
	}
	db, err := loadHostDB(files)
	if err != nil {
		return nil, err
	}
	return &KnownHosts{files: slices.Clone(files), policy: policy, db: db}, nil
}

// HostKeyCallback returns an ssh.HostKeyCallback that checks the host name
// x/crypto passes (the address given to ssh.Dial or ssh.NewClientConn, which
// must be "host:port"):
//
//   - a known, matching key is accepted;
//   - a key marked @revoked is refused with an error wrapping [ErrHostKeyRevoked];
//   - a known host offering another key is refused with [*HostKeyChangedError];
//   - an unknown host is refused with [*HostKeyUnknownError] under [Strict],
//     and under [AcceptNew] recorded in files[0] (written atomically, its mode
//     kept, 0600 and a 0700 parent directory when new) and accepted.
//
// A host certificate signed by a @cert-authority for the host is accepted;
// any other certificate is checked as its plain key, as OpenSSH does.
func (k *KnownHosts) HostKeyCallback() ssh.HostKeyCallback {
	return func(hostname string, _ net.Addr, key ssh.PublicKey) error {
		return k.check(hostname, key)
	}
}

func (k *KnownHosts) check(hostname string, key ssh.PublicKey) error {
	if key == nil {
		return errors.New("check host key: no key offered")
	}
	hp, err := canonicalHostPort(hostname)
	if err != nil {
		return fmt.Errorf("check host key: %w", err)
	}
	err = k.current().verify(hp, key, k.files[0])
	var unknown *HostKeyUnknownError
	if k.policy != AcceptNew || !errors.As(err, &unknown) {
		return err
	}
	return k.record(hp, key)
}

func (k *KnownHosts) current() *hostDB {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.db
}

// record re-reads the files (another process may have recorded the host
// meanwhile), appends the host's line to files[0] if it is still unknown, and
// re-reads the files again so that later checks see the line.
func (k *KnownHosts) record(hp string, key ssh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	db, err := loadHostDB(k.files)
	if err != nil {
		return fmt.Errorf("record host key for %s: %w", knownhosts.Normalize(hp), err)
	}
	k.db = db
	err = db.verify(hp, key, k.files[0])
	var unknown *HostKeyUnknownError
	if !errors.As(err, &unknown) {
		return err
	}
	if err := appendKnownHost(k.files[0], unknown.Line()); err != nil {
		return fmt.Errorf("record host key for %s: %w", unknown.Host, err)
	}
	if db, err = loadHostDB(k.files); err != nil {
		return fmt.Errorf("record host key for %s: %w", unknown.Host, err)
	}
	k.db = db
	if err := db.verify(hp, key, k.files[0]); err != nil {
		return fmt.Errorf("record host key for %s: the line written to %s does not match when read back: %w", unknown.Host, k.files[0], err)
	}
	return nil
}

// HostKeyAlgorithms returns the host key algorithms to offer for hostport,
// ordered as the files list the host's keys, so that a server with several
// host keys is asked for one that is known. An RSA key gives rsa-sha2-512 and
// rsa-sha2-256 (never ssh-rsa, which signs with SHA-1); other keys give their
// own type; DSA keys and @cert-authority lines give nothing. It returns nil
// when nothing is known, so that the caller keeps the library defaults.
func (k *KnownHosts) HostKeyAlgorithms(hostport string) []string {
	hp, err := canonicalHostPort(hostport)
	if err != nil {
		return nil
	}
	known, err := k.current().known(hp)
	if err != nil {
		return nil
	}
	var algos []string
	for _, kk := range known {
		for _, a := range hostKeyAlgorithms(kk.Key) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func hostKeyAlgorithms(key ssh.PublicKey) []string {
	switch t := key.Type(); t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	case ssh.InsecureKeyAlgoDSA, ssh.InsecureCertAlgoDSAv01:
		return nil
	default:
		return []string{t}
	}
}

// canonicalHostPort checks that hostname is "host:port" with a host name that
// can be written to known_hosts, and returns it with the host lowercased (as
// OpenSSH does) and the port in decimal.
func canonicalHostPort(hostname string) (string, error) {
	host, port, err := net.SplitHostPort(hostname)
	if err != nil {
		return "", fmt.Errorf("host %q: want host:port", hostname)
	}
	if !validHost(host) {
		return "", fmt.Errorf("host %q: invalid host name", hostname)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("host %q: invalid port", hostname)
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(p)), nil
}

// validHost accepts a host name or IPv4 address made of letters, digits, '.',
// '-' and '_', or an IPv6 address: what reads back as itself from a
// known_hosts line.
func validHost(host string) bool {
	if strings.ContainsAny(host, ":%") {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6()
	}
	return host != "" && len(host) <= 255 && strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_", r))
	}) < 0
}

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
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
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
