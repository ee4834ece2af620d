package keys

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are authorized_keys texts that reach each part of the parser.
func fuzzSeeds(tb testing.TB) []string {
	tb.Helper()
	k1, k2 := keyText(testKey(tb, 1)), keyText(testKey(tb, 2))
	data, err := os.ReadFile(filepath.Join("testdata", "authorized_keys"))
	if err != nil {
		tb.Fatal(err)
	}
	return []string{
		"",
		string(data),
		k1 + " alice\n",
		"# c\r\n\r\n  " + k1 + " alice bob \r\n" + k2,
		`restrict,port-forwarding,from="127.0.0.1,!10.0.0.1",expiry-time="20300101Z" ` + k1 + " a\n",
		`permitopen="[::1]:8081",permitopen="*:*",no-touch-required,verify-required ` + k1 + "\n",
		`from="a\"b",command="x y" ` + k1 + "\n",
		`expiry-time="203001020304",no-pty,NO-PORT-FORWARDING ` + k1 + " x\n",
		"port-forwarding,restrict " + k1 + "\n" + k1 + " dup\n",
		keyText(testCert(tb, 1)) + "\n",
		"ssh-ed25519 ssh-ed25519 AAAA\n",
		",, " + k1 + "\n",
	}
}

func FuzzParseAuthorizedKeys(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseAuthorizedKeys(data, "f")
		if err != nil {
			return
		}
		for _, k := range keys {
			line := FormatAuthorizedKey(k)
			back, err := ParseAuthorizedKeys([]byte(line), "formatted")
			if err != nil {
				t.Fatalf("line %d formatted as %q does not parse: %v", k.Line, line, err)
			}
			if len(back) != 1 {
				t.Fatalf("got %d keys from %q, want 1", len(back), line)
			}
			b := back[0]
			if !bytes.Equal(b.Key.Marshal(), k.Key.Marshal()) || b.Comment != k.Comment || !optionsEqual(b.Options, k.Options) {
				t.Fatalf("got %q %+v back from %q, want %q %+v", b.Comment, b.Options, line, k.Comment, k.Options)
			}
			if b.Options.ForwardingDisabled() != k.Options.ForwardingDisabled() {
				t.Fatalf("got ForwardingDisabled %v after formatting %q, want %v", b.Options.ForwardingDisabled(), line, k.Options.ForwardingDisabled())
			}
		}
	})
}

func FuzzUpsert(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add([]byte(s), byte(i%3+1), "carol", `restrict,permitopen="127.0.0.1:8081"`)
	}
	f.Add([]byte("x"), byte(1), "a\nb", "")
	f.Fuzz(func(t *testing.T, data []byte, seed byte, comment, opts string) {
		entry := AuthorizedKey{Key: testKey(t, seed), Comment: comment}
		entry.Options, _ = parseOptions(opts)
		out, err := UpsertAuthorizedKey(data, entry)
		if err != nil {
			return
		}
		keys, err := ParseAuthorizedKeys(out, "out")
		if err != nil {
			t.Fatalf("result does not parse: %v\n%q", err, out)
		}
		found := 0
		for _, k := range keys {
			if bytes.Equal(k.Key.Marshal(), entry.Key.Marshal()) {
				found++
				if k.Comment != entry.Comment || !optionsEqual(k.Options, entry.Options) {
					t.Fatalf("got %q %+v, want %q %+v", k.Comment, k.Options, entry.Comment, entry.Options)
				}
			}
		}
		if found != 1 {
			t.Fatalf("got the entry %d times, want once:\n%q", found, out)
		}
		before, _ := ParseAuthorizedKeys(data, "in")
		if len(keys) != len(before) && len(keys) != len(before)+1 {
			t.Fatalf("got %d keys, want %d or %d", len(keys), len(before), len(before)+1)
		}
	})
}
