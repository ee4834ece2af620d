package keys

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestParseAuthorizedKeysTestdata(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "authorized_keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseAuthorizedKeys(data, "testdata/authorized_keys")
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Line    int
		Type    string
		Comment string
	}
	var got []summary
	for _, k := range keys {
		got = append(got, summary{k.Line, k.Key.Type(), k.Comment})
	}
	want := []summary{
		{4, ssh.KeyAlgoED25519, "alice"},
		{6, ssh.KeyAlgoED25519, "bob@laptop"},
		{7, ssh.KeyAlgoRSA, "carol@ops"},
		{8, ssh.KeyAlgoECDSA256, "dave@field"},
		{9, ssh.KeyAlgoED25519, "erin  two words"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	alice := Options{
		Restrict: true, PortForwarding: true,
		From:       []string{"10.20.0.0/16", "!10.20.9.9"},
		ExpiryTime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		PermitOpen: []HostPort{{"127.0.0.1", 8081}},
	}
	if !optionsEqual(keys[0].Options, alice) {
		t.Errorf("got %+v, want %+v", keys[0].Options, alice)
	}
	if !bytes.Equal(keys[0].Key.Marshal(), testKey(t, 1).Marshal()) {
		t.Error("got a different key on line 4, want test key 1")
	}
	erin := []HostPort{{"::1", 8081}, {"localhost", -1}}
	if !slices.Equal(keys[4].Options.PermitOpen, erin) {
		t.Errorf("got %v, want %v", keys[4].Options.PermitOpen, erin)
	}
}

func TestParseAuthorizedKeysLines(t *testing.T) {
	k1, k2 := keyText(testKey(t, 1)), keyText(testKey(t, 2))
	tests := []struct {
		name      string
		data      string
		wantLines []int
	}{
		{name: "empty", data: "", wantLines: nil},
		{name: "only comments", data: "# a\n\n   \n\t# b\n", wantLines: nil},
		{name: "no trailing newline", data: k1 + " a", wantLines: []int{1}},
		{name: "crlf", data: "# x\r\n" + k1 + " a\r\n" + k2 + " b\r\n", wantLines: []int{2, 3}},
		{name: "blanks around", data: "\n  \t" + k1 + " a \t\n", wantLines: []int{2}},
		{name: "no comment", data: k1 + "\n" + k2 + "\n", wantLines: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseAuthorizedKeys([]byte(tt.data), "authorized_keys")
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, k := range keys {
				got = append(got, k.Line)
			}
			if !slices.Equal(got, tt.wantLines) {
				t.Errorf("got lines %v, want %v", got, tt.wantLines)
			}
		})
	}
}

// smallRSAKey returns an RSA public key of the given size; it need not be a
// real key to be refused.
func smallRSAKey(tb testing.TB, bits int) ssh.PublicKey {
	tb.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	k, err := ssh.NewPublicKey(&rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestParseAuthorizedKeysErrors(t *testing.T) {
	k1, k2 := keyText(testKey(t, 1)), keyText(testKey(t, 2))
	tests := []struct {
		name string
		data string
		want string
	}{
		{name: "unknown option on line 3", data: "# c\n" + k1 + " a\nfoo " + k2 + " b\n", want: `authorized_keys:3: unknown option "foo"`},
		{name: "malformed base64", data: "ssh-ed25519 AAAA!!!! alice\n", want: "authorized_keys:1: malformed key: "},
		{name: "type only", data: "ssh-ed25519\n", want: "authorized_keys:1: malformed key: "},
		{name: "truncated key", data: k1[:len(k1)-8] + " a\n", want: "authorized_keys:1: malformed key: "},
		{name: "type mismatch", data: strings.Replace(k1, "ssh-ed25519", "ssh-rsa", 1) + " a\n", want: "authorized_keys:1: malformed key: "},
		{name: "certificate", data: keyText(testCert(t, 1)) + " alice\n", want: "authorized_keys:1: certificates are not supported"},
		{name: "certificate with options", data: "restrict " + keyText(testCert(t, 1)) + "\n", want: "authorized_keys:1: certificates are not supported"},
		{name: "short rsa", data: keyText(smallRSAKey(t, 768)) + " old\n", want: "authorized_keys:1: rsa key has 768 bits"},
		{name: "duplicate", data: k1 + " a\n\n" + k1 + " b\n", want: "authorized_keys:3: duplicate key (already on line 1)"},
		{name: "duplicate with options", data: k1 + " a\nrestrict " + k1 + " a\n", want: "authorized_keys:2: duplicate key (already on line 1)"},
		{name: "control character in comment", data: k1 + " a\x01b\n", want: "authorized_keys:1: comment \"a\\x01b\" contains control characters"},
		{name: "line too long", data: k1 + " " + strings.Repeat("x", maxLineLength) + "\n", want: "authorized_keys:1: line is longer than 16 KiB"},
		{name: "file too large", data: strings.Repeat("#\n", maxAuthorizedKeysSize/2+1), want: "authorized_keys: file is larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseAuthorizedKeys([]byte(tt.data), "authorized_keys")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want an error starting %q", err, tt.want)
			}
			if keys != nil {
				t.Errorf("got %d keys with an error, want none", len(keys))
			}
		})
	}
}

func TestParseAuthorizedKeysJoinsErrors(t *testing.T) {
	k1 := keyText(testKey(t, 1))
	data := "foo " + k1 + " a\n" + k1 + " b\nbar " + keyText(testKey(t, 2)) + "\n"
	_, err := ParseAuthorizedKeys([]byte(data), "/etc/loopgate/authorized_keys")
	want := "/etc/loopgate/authorized_keys:1: unknown option \"foo\"\n" +
		"/etc/loopgate/authorized_keys:3: unknown option \"bar\""
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	var many strings.Builder
	for range 3 * maxReportedErrors {
		many.WriteString("junk\n")
	}
	_, err = ParseAuthorizedKeys([]byte(many.String()), "f")
	if err == nil || strings.Count(err.Error(), "\n") != maxReportedErrors-1 {
		t.Errorf("got %v, want %d errors", err, maxReportedErrors)
	}
}

func TestFormatAuthorizedKey(t *testing.T) {
	k := testKey(t, 1)
	tests := []struct {
		name  string
		entry AuthorizedKey
		want  string
	}{
		{name: "bare", entry: AuthorizedKey{Key: k}, want: keyText(k)},
		{name: "comment", entry: AuthorizedKey{Key: k, Comment: "alice", Line: 9}, want: keyText(k) + " alice"},
		{name: "options", entry: AuthorizedKey{Key: k, Comment: "alice", Options: Options{
			Restrict: true, PortForwarding: true, From: []string{"127.0.0.1", "!10.0.0.1"},
			PermitOpen: []HostPort{{"127.0.0.1", 8081}},
		}}, want: `restrict,port-forwarding,from="127.0.0.1,!10.0.0.1",permitopen="127.0.0.1:8081" ` + keyText(k) + " alice"},
		{name: "nil key", entry: AuthorizedKey{Comment: "x"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatAuthorizedKey(tt.entry)
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if tt.entry.Key == nil {
				return
			}
			keys, err := ParseAuthorizedKeys([]byte(got), "x")
			if err != nil {
				t.Fatal(err)
			}
			if keys[0].Comment != tt.entry.Comment || !optionsEqual(keys[0].Options, tt.entry.Options) {
				t.Errorf("got %q %+v back, want %q %+v", keys[0].Comment, keys[0].Options, tt.entry.Comment, tt.entry.Options)
			}
		})
	}
}

func TestUpsertAuthorizedKey(t *testing.T) {
	k1, k2, k3 := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	l1, l2 := keyText(k1)+" alice", keyText(k2)+" bob"
	entry := AuthorizedKey{Key: k3, Comment: "carol", Options: Options{Restrict: true, PortForwarding: true}}
	line3 := FormatAuthorizedKey(entry)
	replace := AuthorizedKey{Key: k2, Comment: "robert", Options: Options{NoPortForwarding: true}}
	tests := []struct {
		name  string
		data  string
		entry AuthorizedKey
		want  string
	}{
		{name: "empty", data: "", entry: entry, want: line3 + "\n"},
		{name: "append", data: "# keys\n" + l1 + "\n", entry: entry, want: "# keys\n" + l1 + "\n" + line3 + "\n"},
		{name: "append after missing newline", data: l1, entry: entry, want: l1 + "\n" + line3 + "\n"},
		{name: "append crlf", data: l1 + "\r\n", entry: entry, want: l1 + "\r\n" + line3 + "\r\n"},
		{name: "replace in place", data: "# a\n" + l1 + "\n\n  # b  \n  " + l2 + "  \n# c", entry: replace,
			want: "# a\n" + l1 + "\n\n  # b  \n" + FormatAuthorizedKey(replace) + "\n# c"},
		{name: "replace keeps crlf", data: l2 + "\r\n" + l1 + "\r\n", entry: replace, want: FormatAuthorizedKey(replace) + "\r\n" + l1 + "\r\n"},
		{name: "replace last line without newline", data: l1 + "\n" + l2, entry: replace, want: l1 + "\n" + FormatAuthorizedKey(replace)},
		{name: "replace line with options", data: "restrict,from=\"10.0.0.1\" " + l2 + "\n", entry: replace, want: FormatAuthorizedKey(replace) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UpsertAuthorizedKey([]byte(tt.data), tt.entry)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpsertAuthorizedKeyErrors(t *testing.T) {
	k1 := testKey(t, 1)
	tests := []struct {
		name  string
		data  string
		entry AuthorizedKey
		want  string
	}{
		{name: "bad data", data: "junk\n", entry: AuthorizedKey{Key: k1}, want: "authorized_keys:1: malformed key"},
		{name: "nil key", entry: AuthorizedKey{Comment: "a"}, want: "upsert authorized key: no key"},
		{name: "newline in comment", entry: AuthorizedKey{Key: k1, Comment: "a\nrestrict"}, want: "control characters"},
		{name: "trailing blank in comment", entry: AuthorizedKey{Key: k1, Comment: "a "}, want: "leading or trailing blanks"},
		{name: "certificate", entry: AuthorizedKey{Key: testCert(t, 1)}, want: "certificates are not supported"},
		{name: "bad from", entry: AuthorizedKey{Key: k1, Options: Options{From: []string{"a b"}}}, want: "invalid from pattern"},
		{name: "bad permitopen", entry: AuthorizedKey{Key: k1, Options: Options{PermitOpen: []HostPort{{"a", 0}}}}, want: "invalid permitopen"},
		{name: "expiry before 1970", entry: AuthorizedKey{Key: k1, Options: Options{ExpiryTime: time.Unix(-5, 0)}}, want: "invalid expiry-time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UpsertAuthorizedKey([]byte(tt.data), tt.entry)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, %v, want an error containing %q", got, err, tt.want)
			}
		})
	}
}

func TestRemoveAuthorizedKeys(t *testing.T) {
	a1, a2 := keyText(testKey(t, 1))+" alice", "restrict "+keyText(testKey(t, 2))+" alice"
	b := keyText(testKey(t, 3)) + " bob"
	tests := []struct {
		name     string
		data     string
		remove   string
		want     string
		wantDrop int
	}{
		{name: "all of one identity", data: "# x\n" + a1 + "\n" + b + "\n" + a2 + "\n", remove: "alice", want: "# x\n" + b + "\n", wantDrop: 2},
		{name: "crlf and missing newline", data: a1 + "\r\n" + b + "\r\n" + a2, remove: "alice", want: b + "\r\n", wantDrop: 2},
		{name: "none", data: a1 + "\n", remove: "bob", want: a1 + "\n", wantDrop: 0},
		{name: "comment text is not a key", data: "# alice\n" + b + "\n", remove: "alice", want: "# alice\n" + b + "\n", wantDrop: 0},
		{name: "exact match only", data: a1 + "\n", remove: "Alice", want: a1 + "\n", wantDrop: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := RemoveAuthorizedKeys([]byte(tt.data), tt.remove)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || n != tt.wantDrop {
				t.Errorf("got %q, %d, want %q, %d", got, n, tt.want, tt.wantDrop)
			}
		})
	}
}

func TestRemoveAuthorizedKeysErrors(t *testing.T) {
	if _, _, err := RemoveAuthorizedKeys([]byte(keyText(testKey(t, 1))+"\n"), ""); err == nil {
		t.Error("got nil error for an empty name, want an error")
	}
	if _, _, err := RemoveAuthorizedKeys([]byte("junk\n"), "alice"); err == nil {
		t.Error("got nil error for bad data, want an error")
	}
}

func TestLoadAuthorizedKeys(t *testing.T) {
	good := keyText(testKey(t, 1)) + " alice\n"
	tests := []struct {
		name    string
		data    string
		perm    os.FileMode
		wantErr string // %s is the path
	}{
		{name: "0644", data: good, perm: 0o644},
		{name: "0600", data: good, perm: 0o600},
		{name: "0666", data: good, perm: 0o666, wantErr: `bad permissions: "%s" is mode 0666`},
		{name: "0620", data: good, perm: 0o620, wantErr: `bad permissions: "%s" is mode 0620`},
		{name: "parse error names path", data: good + "foo " + keyText(testKey(t, 2)) + "\n", perm: 0o644, wantErr: `%s:2: unknown option "foo"`},
		{name: "too large", data: strings.Repeat("#\n", maxAuthorizedKeysSize), perm: 0o644, wantErr: "%s: file is larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.perm&0o022 != 0 && !unixPermissions {
				t.Skip("no unix permissions")
			}
			path := writeTestFile(t, "authorized_keys", []byte(tt.data), tt.perm)
			keys, err := LoadAuthorizedKeys(path)
			if tt.wantErr == "" {
				if err != nil || len(keys) != 1 || keys[0].Comment != "alice" {
					t.Errorf("got %v, %v, want alice's key", keys, err)
				}
				return
			}
			want := strings.ReplaceAll(tt.wantErr, "%s", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want an error containing %q", err, want)
			}
			if tt.perm&0o022 != 0 && !errors.Is(err, ErrBadPermissions) {
				t.Errorf("got %v, want it to wrap ErrBadPermissions", err)
			}
		})
	}
}

func Example() {
	data := []byte(`# operators
restrict,port-forwarding,permitopen="127.0.0.1:8081" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c alice
`)
	keys, err := ParseAuthorizedKeys(data, "authorized_keys")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range keys {
		fmt.Println(k.Line, k.Comment, Fingerprint(k.Key), k.Options.ForwardingDisabled(), k.Options.PermitOpen)
	}
	// Output:
	// 2 alice SHA256:fe85JkIjo8VPe+XqXJGH5Mau1EMFdK1OdKvJUFicyA8 false [127.0.0.1:8081]
}
