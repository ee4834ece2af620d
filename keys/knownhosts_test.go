package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testRSASigner returns an RSA host key shared by the tests of one run.
var testRSASigner = sync.OnceValues(func() (ssh.Signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(k)
})

func rsaSigner(tb testing.TB) ssh.Signer {
	tb.Helper()
	s, err := testRSASigner()
	if err != nil {
		tb.Fatalf("rsa key: %v", err)
	}
	return s
}

func ecdsaKey(tb testing.TB) ssh.PublicKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

// knownHostsFile writes lines (each followed by a newline) to a known_hosts
// file with mode 0600 in a fresh directory.
func knownHostsFile(tb testing.TB, lines ...string) string {
	tb.Helper()
	data := ""
	for _, l := range lines {
		data += l + "\n"
	}
	return writeTestFile(tb, "known_hosts", []byte(data), 0o600)
}

func openKnownHosts(tb testing.TB, policy HostKeyPolicy, files ...string) *KnownHosts {
	tb.Helper()
	kh, err := OpenKnownHosts(files, policy)
	if err != nil {
		tb.Fatalf("open known_hosts: %v", err)
	}
	return kh
}

// checkHost runs the callback as x/crypto would for a server at remote.
func checkHost(kh *KnownHosts, hostport string, key ssh.PublicKey) error {
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	return kh.HostKeyCallback()(hostport, remote, key)
}

func describe(k ssh.PublicKey) string {
	return keyTypeName(k) + " " + ssh.FingerprintSHA256(k)
}

// outcome classifies a callback result for table tests.
func outcome(err error) string {
	var changed *HostKeyChangedError
	var unknown *HostKeyUnknownError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrHostKeyRevoked):
		return "revoked"
	case errors.As(err, &changed):
		return "changed"
	case errors.As(err, &unknown):
		return "unknown"
	default:
		return "error: " + err.Error()
	}
}

func TestKnownHostsMatch(t *testing.T) {
	k1, k2, k3 := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	foreign := "ssh-future@example.com " + base64.StdEncoding.EncodeToString(ssh.Marshal(struct{ T, K string }{"ssh-future@example.com", "x"}))
	tests := []struct {
		name  string
		lines []string
		host  string
		key   ssh.PublicKey
		want  string
	}{
		{name: "plain port 22", lines: []string{"device.example " + keyText(k1)}, host: "device.example:22", key: k1, want: "ok"},
		{name: "plain changed", lines: []string{"device.example " + keyText(k1)}, host: "device.example:22", key: k2, want: "changed"},
		{name: "plain other port unknown", lines: []string{"device.example " + keyText(k1)}, host: "device.example:2222", key: k1, want: "unknown"},
		{name: "bracketed port", lines: []string{"[127.0.0.1]:2222 " + keyText(k1)}, host: "127.0.0.1:2222", key: k1, want: "ok"},
		{name: "bracketed port 22 unknown", lines: []string{"[127.0.0.1]:2222 " + keyText(k1)}, host: "127.0.0.1:22", key: k1, want: "unknown"},
		{name: "ipv6", lines: []string{"[::1]:2222 " + keyText(k1)}, host: "[::1]:2222", key: k1, want: "ok"},
		{name: "ipv6 port 22", lines: []string{"fe80::1%eth0 " + keyText(k1)}, host: "[fe80::1%eth0]:22", key: k1, want: "ok"},
		{name: "host list", lines: []string{"a.example,[b.example]:2222 " + keyText(k1)}, host: "b.example:2222", key: k1, want: "ok"},
		{name: "wildcard", lines: []string{"*.example.com " + keyText(k1)}, host: "dev1.example.com:22", key: k1, want: "ok"},
		{name: "wildcard other domain", lines: []string{"*.example.com " + keyText(k1)}, host: "dev1.example.org:22", key: k1, want: "unknown"},
		{name: "four stars", lines: []string{"*.*.*.* " + keyText(k1)}, host: "10.0.0.1:22", key: k1, want: "ok"},
		{name: "question mark", lines: []string{"dev?.example " + keyText(k1)}, host: "dev7.example:22", key: k1, want: "ok"},
		{name: "wildcard with port", lines: []string{"[dev*]:2222 " + keyText(k1)}, host: "dev9:2222", key: k1, want: "ok"},
		{name: "negated", lines: []string{"!bad.example.com,*.example.com " + keyText(k1)}, host: "bad.example.com:22", key: k1, want: "unknown"},
		{name: "case insensitive host", lines: []string{"device.example " + keyText(k1)}, host: "Device.EXAMPLE:22", key: k1, want: "ok"},
		{name: "second of two keys", lines: []string{"h " + keyText(k1), "h " + keyText(k2)}, host: "h:22", key: k2, want: "ok"},
		{name: "comment and blank lines", lines: []string{"# c", "", "  h\t" + keyText(k1) + " comment here  "}, host: "h:22", key: k1, want: "ok"},
		{name: "revoked", lines: []string{"@revoked * " + keyText(k1), "h " + keyText(k1)}, host: "h:22", key: k1, want: "revoked"},
		{name: "revoked unknown host", lines: []string{"@revoked * " + keyText(k1)}, host: "h:22", key: k1, want: "revoked"},
		{name: "revoked other key", lines: []string{"@revoked * " + keyText(k2), "h " + keyText(k1)}, host: "h:22", key: k1, want: "ok"},
		{name: "cert authority is not a host key", lines: []string{"@cert-authority * " + keyText(k3)}, host: "h:22", key: k1, want: "unknown"},
		{name: "cert authority key itself", lines: []string{"@cert-authority * " + keyText(k3), "h " + keyText(k1)}, host: "h:22", key: k3, want: "changed"},
		{name: "only the ip is known", lines: []string{"127.0.0.1 " + keyText(k1)}, host: "localhost:22", key: k1, want: "unknown"},
		{name: "ip known with other key", lines: []string{"127.0.0.1 " + keyText(k2)}, host: "localhost:22", key: k1, want: "unknown"},
		{name: "foreign key type skipped", lines: []string{"h " + foreign, "h " + keyText(k1)}, host: "h:22", key: k1, want: "ok"},
		{name: "empty file", host: "h:22", key: k1, want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := openKnownHosts(t, Strict, knownHostsFile(t, tt.lines...))
			if got := outcome(checkHost(kh, tt.host, tt.key)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestKnownHostsBadHostname(t *testing.T) {
	kh := openKnownHosts(t, AcceptNew, filepath.Join(t.TempDir(), "known_hosts"))
	for _, host := range []string{"", "device", "a b:22", "h,i:22", "*:22", "h:0", "h:99999", "h:x", "|1|x:22", ":22", strings.Repeat("a", 256) + ":22", "[a:b]:22", "[1:2]:22", "a%b:22"} {
		if err := checkHost(kh, host, testKey(t, 1)); err == nil || outcome(err) != "error: "+err.Error() {
			t.Errorf("host %q: got %v, want a plain error", host, err)
		}
	}
	if err := checkHost(kh, "h:22", nil); err == nil {
		t.Error("nil key: got nil error, want an error")
	}
}

func TestKnownHostsHashed(t *testing.T) {
	sshKeygen(t)
	k1, k2 := testKey(t, 1), testKey(t, 2)
	path := knownHostsFile(t, "[127.0.0.1]:2222 "+keyText(k1), "device.example "+keyText(k2))
	runKeygen(t, "-H", "-f", path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "127.0.0.1") || strings.Count(string(data), "|1|") != 2 {
		t.Fatalf("ssh-keygen -H left %q, want two hashed lines", data)
	}
	kh := openKnownHosts(t, Strict, path)
	tests := []struct {
		name string
		host string
		key  ssh.PublicKey
		want string
	}{
		{name: "bracketed", host: "127.0.0.1:2222", key: k1, want: "ok"},
		{name: "port 22", host: "device.example:22", key: k2, want: "ok"},
		{name: "changed", host: "device.example:22", key: k1, want: "changed"},
		{name: "other port", host: "127.0.0.1:22", key: k1, want: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(checkHost(kh, tt.host, tt.key)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	var changed *HostKeyChangedError
	if err := checkHost(kh, "device.example:22", k1); !errors.As(err, &changed) || !strings.Contains(err.Error(), path+":2)") {
		t.Errorf("got %v, want a changed key naming %s:2", err, path)
	}
}

func TestKnownHostsUnknownStrict(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	key := testKey(t, 1)
	kh := openKnownHosts(t, Strict, path, knownHostsFile(t, "other "+keyText(testKey(t, 2))))
	err := checkHost(kh, "127.0.0.1:2222", key)
	var unknown *HostKeyUnknownError
	if !errors.As(err, &unknown) {
		t.Fatalf("got %v, want *HostKeyUnknownError", err)
	}
	want := "host key for [127.0.0.1]:2222 is not known: ED25519 " + ssh.FingerprintSHA256(key) +
		"; compare it with the device's (gateway init printed it), then run again with --accept-new, or add this line to " +
		path + ": [127.0.0.1]:2222 " + keyText(key)
	if err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
	if unknown.Host != "[127.0.0.1]:2222" || unknown.File != path || !keysEqual(unknown.Offered, key) {
		t.Errorf("got %+v, want host [127.0.0.1]:2222, file %s and the offered key", unknown, path)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("got files %v after a strict refusal, want none", names)
	}
}

func TestKnownHostsAcceptNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", ".ssh")
	path := filepath.Join(dir, "known_hosts")
	key, other := testKey(t, 1), testKey(t, 2)
	kh := openKnownHosts(t, AcceptNew, path)
	if err := checkHost(kh, "127.0.0.1:2222", key); err != nil {
		t.Fatalf("accept new: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[127.0.0.1]:2222 " + keyText(key) + "\n"; string(data) != want {
		t.Errorf("got file %q, want %q", data, want)
	}
	if got := fileMode(t, path); unixPermissions && got != 0o600 {
		t.Errorf("got mode %04o, want 0600", got)
	}
	if got := fileMode(t, dir); unixPermissions && got != 0o700 {
		t.Errorf("got directory mode %04o, want 0700", got)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"known_hosts"}) {
		t.Errorf("got files %v, want [known_hosts]", got)
	}
	if err := checkHost(kh, "127.0.0.1:2222", key); err != nil {
		t.Errorf("same key again: got %v, want nil", err)
	}
	if got := outcome(checkHost(kh, "127.0.0.1:2222", other)); got != "changed" {
		t.Errorf("other key: got %s, want changed", got)
	}
	if got := outcome(checkHost(openKnownHosts(t, Strict, path), "127.0.0.1:2222", key)); got != "ok" {
		t.Errorf("reopened strict: got %s, want ok", got)
	}
	if out, err := exec.Command(sshKeygen(t), "-F", "[127.0.0.1]:2222", "-f", path).CombinedOutput(); err != nil || !strings.Contains(string(out), keyText(key)) {
		t.Errorf("ssh-keygen -F: got %q, %v; want the recorded line", out, err)
	}
}

func TestKnownHostsAcceptNewForms(t *testing.T) {
	key := testKey(t, 1)
	tests := []struct {
		name string
		host string
		line string
	}{
		{name: "ipv4 port", host: "127.0.0.1:2222", line: "[127.0.0.1]:2222"},
		{name: "name port 22 lowercased", host: "Device.Example:22", line: "device.example"},
		{name: "ipv6 port", host: "[::1]:2222", line: "[::1]:2222"},
		{name: "ipv6 zone port 22", host: "[fe80::1%eth0]:22", line: "fe80::1%eth0"},
		{name: "port with zero", host: "h:02222", line: "[h]:2222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			if err := checkHost(openKnownHosts(t, AcceptNew, path), tt.host, key); err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.line+" "+keyText(key)+"\n" {
				t.Errorf("got file %q, want line %q", data, tt.line)
			}
			if got := outcome(checkHost(openKnownHosts(t, Strict, path), tt.host, key)); got != "ok" {
				t.Errorf("reopened: got %s, want ok", got)
			}
		})
	}
}

func TestKnownHostsAcceptNewConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	kh := openKnownHosts(t, AcceptNew, path)
	const n = 8
	var hostKeys []ssh.PublicKey
	for i := range n {
		hostKeys = append(hostKeys, testKey(t, byte(i+1)))
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n { // every host twice, at the same time
		wg.Go(func() { errs <- checkHost(kh, fmt.Sprintf("h%d:2222", i%n), hostKeys[i%n]) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if data, _ := os.ReadFile(path); strings.Count(string(data), "\n") != n {
		t.Errorf("got file %q, want %d lines", data, n)
	}
}

func TestKnownHostsAcceptNewAppends(t *testing.T) {
	skipWithoutUnixPermissions(t)
	old := "h " + keyText(testKey(t, 3))
	path := writeTestFile(t, "known_hosts", []byte(old), 0o640) // no final newline
	key := testKey(t, 1)
	kh := openKnownHosts(t, AcceptNew, path)
	if err := checkHost(kh, "device.example:22", key); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := old + "\ndevice.example " + keyText(key) + "\n"; string(data) != want {
		t.Errorf("got file %q, want %q", data, want)
	}
	if got := fileMode(t, path); got != 0o640 {
		t.Errorf("got mode %04o, want 0640 kept", got)
	}
}

func TestKnownHostsAcceptNewSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real_known_hosts")
	link := filepath.Join(dir, "known_hosts")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	kh := openKnownHosts(t, AcceptNew, link)
	if err := checkHost(kh, "h:2222", testKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("got %v, %v for the link, want it kept as a symbolic link", fi, err)
	}
	if data, err := os.ReadFile(target); err != nil || !strings.HasPrefix(string(data), "[h]:2222 ") {
		t.Errorf("got target %q, %v; want the recorded line", data, err)
	}
}

func TestKnownHostsAcceptNewNotRegular(t *testing.T) {
	kh := openKnownHosts(t, AcceptNew, os.DevNull)
	if err := checkHost(kh, "h:22", testKey(t, 1)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v, want a refusal to write to %s", err, os.DevNull)
	}
}

func TestKnownHostsAcceptNewSeesOtherWriter(t *testing.T) {
	path := knownHostsFile(t)
	kh := openKnownHosts(t, AcceptNew, path)
	// Another process records a different key after kh read the file.
	if err := os.WriteFile(path, []byte("h "+keyText(testKey(t, 2))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := outcome(checkHost(kh, "h:22", testKey(t, 1))); got != "changed" {
		t.Errorf("got %s, want changed", got)
	}
	if data, _ := os.ReadFile(path); strings.Count(string(data), "\n") != 1 {
		t.Errorf("got file %q, want it unchanged", data)
	}
}

func TestKnownHostsChanged(t *testing.T) {
	old, offered := testKey(t, 1), testKey(t, 2)
	path := knownHostsFile(t, "# devices", "[127.0.0.1]:2222 "+keyText(old))
	for _, policy := range []HostKeyPolicy{Strict, AcceptNew} {
		t.Run(policy.String(), func(t *testing.T) {
			err := checkHost(openKnownHosts(t, policy, path), "127.0.0.1:2222", offered)
			var changed *HostKeyChangedError
			if !errors.As(err, &changed) {
				t.Fatalf("got %v, want *HostKeyChangedError", err)
			}
			want := "host key for [127.0.0.1]:2222 has CHANGED: known_hosts has ED25519 " + ssh.FingerprintSHA256(old) +
				" (" + path + ":2), the host offered ED25519 " + ssh.FingerprintSHA256(offered) +
				"; refusing to connect (if the device was re-keyed, remove line 2 from " + path + ")"
			if err.Error() != want {
				t.Errorf("got %q, want %q", err.Error(), want)
			}
			if len(changed.Known) != 1 || changed.Known[0].File != path || changed.Known[0].Line != 2 || !keysEqual(changed.Known[0].Key, old) {
				t.Errorf("got known %+v, want %s:2", changed.Known, path)
			}
			if data, _ := os.ReadFile(path); strings.Count(string(data), "\n") != 2 {
				t.Errorf("got file %q, want it unchanged", data)
			}
		})
	}
}

func TestHostKeyChangedErrorSeveralKeys(t *testing.T) {
	k1, k2, k3 := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	err := &HostKeyChangedError{
		Host:    "h",
		Known:   []KnownKey{{Key: k1, File: "A", Line: 3}, {Key: k2, File: "A", Line: 7}, {Key: k1, File: "B", Line: 1}},
		Offered: k3,
	}
	want := "if the device was re-keyed, remove lines 3, 7 from A and line 1 from B)"
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %q, want it to end with %q", err.Error(), want)
	}
	for _, e := range []error{&HostKeyChangedError{}, &HostKeyUnknownError{}, &HostKeyUnknownError{Offered: &ssh.Certificate{}},
		&HostKeyChangedError{Known: []KnownKey{{}}, Offered: &ssh.Certificate{}}} {
		if e.Error() == "" {
			t.Errorf("got an empty message for a zero %T", e)
		}
	}
}

func TestKnownHostsRevoked(t *testing.T) {
	key := testKey(t, 1)
	path := knownHostsFile(t, "[127.0.0.1]:2222 "+keyText(key), "@revoked * "+keyText(key))
	for _, policy := range []HostKeyPolicy{Strict, AcceptNew} {
		t.Run(policy.String(), func(t *testing.T) {
			for _, host := range []string{"127.0.0.1:2222", "new.example:22"} {
				err := checkHost(openKnownHosts(t, policy, path), host, key)
				if !errors.Is(err, ErrHostKeyRevoked) || !strings.Contains(err.Error(), path+":2") {
					t.Errorf("%s: got %v, want ErrHostKeyRevoked naming %s:2", host, err, path)
				}
			}
			if data, _ := os.ReadFile(path); strings.Count(string(data), "\n") != 2 {
				t.Errorf("got file %q, want it unchanged", data)
			}
		})
	}
}

func TestKnownHostsCertificate(t *testing.T) {
	ca, hostKey := testSigner(t, 9), testSigner(t, 1)
	cert := &ssh.Certificate{
		Key:             hostKey.PublicKey(),
		CertType:        ssh.HostCert,
		ValidPrincipals: []string{"dev.example"},
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{name: "trusted authority", lines: []string{"@cert-authority *.example " + keyText(ca.PublicKey())}, want: "ok"},
		{name: "untrusted authority, plain key known", lines: []string{"dev.example " + keyText(hostKey.PublicKey())}, want: "ok"},
		{name: "untrusted authority, plain key unknown", lines: []string{"@cert-authority other " + keyText(ca.PublicKey())}, want: "unknown"},
		{name: "authority revoked", lines: []string{"@cert-authority * " + keyText(ca.PublicKey()), "@revoked * " + keyText(ca.PublicKey())}, want: "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := openKnownHosts(t, Strict, knownHostsFile(t, tt.lines...))
			if got := outcome(checkHost(kh, "dev.example:22", cert)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOpenKnownHostsErrors(t *testing.T) {
	k1 := keyText(testKey(t, 1))
	tests := []struct {
		name  string
		lines []string
		line  int
	}{
		{name: "garbage", lines: []string{"h " + k1, "# ok", "this is not a known_hosts line"}, line: 3},
		{name: "two fields", lines: []string{"h ssh-ed25519"}, line: 1},
		{name: "unknown marker", lines: []string{"@trusted h " + k1}, line: 1},
		{name: "two markers", lines: []string{"@revoked @cert-authority h " + k1}, line: 1},
		{name: "bad base64", lines: []string{"h ssh-ed25519 AAAA!!!!"}, line: 1},
		{name: "bad key", lines: []string{"h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"}, line: 1},
		{name: "type mismatch", lines: []string{"h ssh-rsa " + strings.Fields(k1)[1]}, line: 1},
		{name: "bad hashed host", lines: []string{"|1|abc " + k1}, line: 1},
		{name: "hashed host bad type", lines: []string{"|2|AAAA|AAAA " + k1}, line: 1},
		{name: "bracket without port", lines: []string{"[h] " + k1}, line: 1},
		{name: "bare negation", lines: []string{"h,! " + k1}, line: 1},
		{name: "double star", lines: []string{"h,**.example " + k1}, line: 1},
		{name: "too many stars", lines: []string{"*.*.*.*.* " + k1}, line: 1},
		{name: "long line", lines: []string{"h " + k1 + " " + strings.Repeat("c", 17<<10)}, line: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := knownHostsFile(t, tt.lines...)
			_, err := OpenKnownHosts([]string{path}, Strict)
			want := path + ":" + string(rune('0'+tt.line)) + ":"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want an error naming %s", err, want)
			}
		})
	}
}

func TestOpenKnownHostsFiles(t *testing.T) {
	if _, err := OpenKnownHosts(nil, Strict); err == nil {
		t.Error("no files: got nil error, want an error")
	}
	if _, err := OpenKnownHosts([]string{knownHostsFile(t)}, HostKeyPolicy(7)); err == nil {
		t.Error("bad policy: got nil error, want an error")
	}
	if _, err := OpenKnownHosts([]string{t.TempDir()}, Strict); err == nil {
		t.Error("directory: got nil error, want an error")
	}
	missing := filepath.Join(t.TempDir(), "nope", "known_hosts")
	key := testKey(t, 1)
	global := knownHostsFile(t, "h "+keyText(key))
	kh := openKnownHosts(t, Strict, missing, os.DevNull, global)
	if got := outcome(checkHost(kh, "h:22", key)); got != "ok" {
		t.Errorf("key from the second file: got %s, want ok", got)
	}
	var unknown *HostKeyUnknownError
	if err := checkHost(kh, "g:22", key); !errors.As(err, &unknown) || unknown.File != missing {
		t.Errorf("got %v, want unknown naming %s", err, missing)
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	rsaKey, edKey, ecKey := keyText(rsaSigner(t).PublicKey()), keyText(testKey(t, 1)), keyText(ecdsaKey(t))
	tests := []struct {
		name  string
		lines []string
		host  string
		want  []string
	}{
		{name: "rsa only", lines: []string{"[h]:2222 " + rsaKey}, host: "h:2222", want: []string{"rsa-sha2-512", "rsa-sha2-256"}},
		{name: "ed25519 only", lines: []string{"[h]:2222 " + edKey}, host: "h:2222", want: []string{"ssh-ed25519"}},
		{name: "rsa then ed25519", lines: []string{"[h]:2222 " + rsaKey, "[h]:2222 " + edKey}, host: "h:2222",
			want: []string{"rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"}},
		{name: "ed25519 then rsa", lines: []string{"[h]:2222 " + edKey, "[h]:2222 " + rsaKey}, host: "h:2222",
			want: []string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"}},
		{name: "ecdsa and pattern", lines: []string{"other " + edKey, "[h*]:2222 " + ecKey}, host: "h1:2222", want: []string{"ecdsa-sha2-nistp256"}},
		{name: "duplicate keys", lines: []string{"h " + edKey, "h,g " + edKey}, host: "h:22", want: []string{"ssh-ed25519"}},
		{name: "unknown host", lines: []string{"[h]:2222 " + edKey}, host: "g:2222", want: nil},
		{name: "cert authority only", lines: []string{"@cert-authority * " + edKey}, host: "h:22", want: nil},
		{name: "invalid host port", lines: []string{"h " + edKey}, host: "h", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := openKnownHosts(t, Strict, knownHostsFile(t, tt.lines...))
			if got := kh.HostKeyAlgorithms(tt.host); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// startTestServer runs an x/crypto SSH server on 127.0.0.1:0 with hostKeys.
// It accepts userKey (signing with anything but ssh-rsa), or every client when
// userKey is nil, and refuses every channel.
func startTestServer(tb testing.TB, hostKeys []ssh.Signer, userKey ssh.PublicKey) string {
	tb.Helper()
	cfg := &ssh.ServerConfig{
		NoClientAuth: userKey == nil,
		// No ssh-rsa: like current OpenSSH, refuse SHA-1 RSA signatures.
		PublicKeyAuthAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoECDSA256},
	}
	cfg.PublicKeyCallback = func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if userKey != nil && keysEqual(k, userKey) {
			return nil, nil
		}
		return nil, errors.New("key not accepted")
	}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveTestConn(c, cfg) })
		}
	})
	return ln.Addr().String()
}

func serveTestConn(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for ch := range chans {
		ch.Reject(ssh.Prohibited, "no channels here")
	}
}

func TestHandshakeHostKeyAlgorithms(t *testing.T) {
	edHost, rsaHost := testSigner(t, 1), rsaSigner(t)
	addr := startTestServer(t, []ssh.Signer{edHost, rsaHost}, nil)
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name  string
		known ssh.Signer
	}{
		{name: "rsa known", known: rsaHost},
		{name: "ed25519 known", known: edHost},
	}
	changedWithoutAlgorithms := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := openKnownHosts(t, Strict, knownHostsFile(t, "[127.0.0.1]:"+port+" "+keyText(tt.known.PublicKey())))
			var offered ssh.PublicKey
			cfg := &ssh.ClientConfig{
				User:              "op",
				HostKeyAlgorithms: kh.HostKeyAlgorithms(addr),
				HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
					offered = k
					return kh.HostKeyCallback()(h, r, k)
				},
				Timeout: 10 * time.Second,
			}
			client, err := ssh.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatalf("dial with HostKeyAlgorithms %q: %v", cfg.HostKeyAlgorithms, err)
			}
			client.Close()
			if !keysEqual(offered, tt.known.PublicKey()) {
				t.Errorf("got host key %s, want %s", describe(offered), describe(tt.known.PublicKey()))
			}

			// The trap: without HostKeyAlgorithms the server may present the
			// key that known_hosts does not hold.
			cfg.HostKeyAlgorithms = nil
			client, err = ssh.Dial("tcp", addr, cfg)
			var changed *HostKeyChangedError
			switch {
			case err == nil:
				client.Close()
			case errors.As(err, &changed):
				changedWithoutAlgorithms++
			default:
				t.Errorf("dial without HostKeyAlgorithms: got %v, want nil or *HostKeyChangedError", err)
			}
		})
	}
	if changedWithoutAlgorithms != 1 {
		t.Errorf("got %d of 2 dials without HostKeyAlgorithms refused as changed, want 1", changedWithoutAlgorithms)
	}
}

func TestHandshakeAcceptNew(t *testing.T) {
	host := testSigner(t, 1)
	addr := startTestServer(t, []ssh.Signer{host}, nil)
	path := filepath.Join(t.TempDir(), "known_hosts")
	for i, policy := range []HostKeyPolicy{Strict, AcceptNew, Strict} {
		kh := openKnownHosts(t, policy, path)
		client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
			User:              "op",
			HostKeyCallback:   kh.HostKeyCallback(),
			HostKeyAlgorithms: kh.HostKeyAlgorithms(addr),
			Timeout:           10 * time.Second,
		})
		if got, want := outcome(err), []string{"unknown", "ok", "ok"}[i]; got != want {
			t.Errorf("dial %d (%s): got %s, want %s", i, policy, got, want)
		}
		if err == nil {
			client.Close()
		}
	}
}
