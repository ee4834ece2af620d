package keys

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func FuzzOpenKnownHosts(f *testing.F) {
	k1, k2 := keyText(testKey(f, 1)), keyText(testKey(f, 2))
	for _, s := range []string{
		"",
		"h " + k1 + "\n",
		"[127.0.0.1]:2222 " + k1 + " comment\r\n# c\r\n\r\n",
		"|1|JfKTdBh7rNbXkVAQCRp4OQoPfmI=|USECr3SWf1JUPsms5AqfD5QfxkM= " + k1 + "\n",
		"!bad.example,*.example,[dev?]:2222 " + k1 + "\n@revoked * " + k2 + "\n",
		"@cert-authority *.example " + k2 + "\nfuzz.invalid " + k1,
		"[fuzz.invalid]:2222 " + k2 + "\n",
		"*:* " + k1 + "\n",
		"@revoked @cert-authority h " + k1 + "\n",
		"h ssh-ed25519 AAAA\n[h " + k1 + "\n",
		"h,! " + k1 + "\n\th\t" + k1 + "\t\n",
		"h " + k1 + "\r",
	} {
		f.Add([]byte(s))
	}
	key := testKey(f, 3)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		kh, err := OpenKnownHosts([]string{path}, AcceptNew)
		if err != nil {
			return
		}
		for _, host := range []string{"h:22", "127.0.0.1:2222", "dev1.example:22", "[::1]:22"} {
			for _, a := range kh.HostKeyAlgorithms(host) {
				if a == "ssh-rsa" || a == "ssh-dss" || strings.Contains(a, " ") {
					t.Fatalf("got algorithm %q for %s", a, host)
				}
			}
		}
		// Recording a host keeps the file readable, and the host then known.
		err = checkHost(kh, "fuzz.invalid:2222", key)
		if got := outcome(err); !slices.Contains([]string{"ok", "changed", "revoked"}, got) {
			t.Fatalf("record: got %s", got)
		}
		again, err := OpenKnownHosts([]string{path}, Strict)
		if err != nil {
			t.Fatalf("file no longer opens after recording a host: %v", err)
		}
		if got, want := outcome(checkHost(again, "fuzz.invalid:2222", key)), outcome(checkHost(kh, "fuzz.invalid:2222", key)); got != want {
			t.Fatalf("after reopening: got %s, want %s", got, want)
		}
	})
}
