package keys

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
