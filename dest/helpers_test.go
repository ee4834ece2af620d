package dest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeFile writes text to path and sets mode explicitly, so that the umask
// does not matter.
func writeFile(tb testing.TB, path, text string, mode os.FileMode) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
}

// newHome returns a fresh home directory whose ~/.ssh/config holds config,
// or that has no ~/.ssh/config when config is "".
func newHome(tb testing.TB, config string) string {
	tb.Helper()
	home := tb.TempDir()
	if config != "" {
		writeFile(tb, filepath.Join(home, ".ssh", "config"), config, 0o600)
	}
	return home
}

// overrides returns Overrides for home with a fixed local user.
func overrides(home string) Overrides {
	return Overrides{Home: home, LocalUser: "op"}
}

func mustResolve(tb testing.TB, dest string, o Overrides) *Destination {
	tb.Helper()
	d, err := Resolve(dest, o)
	if err != nil {
		tb.Fatalf("Resolve(%q): %v", dest, err)
	}
	return d
}

// show renders d, hops included, for failure messages.
func show(d *Destination) string {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func checkDest(tb testing.TB, dest string, got, want *Destination) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("Resolve(%q):\ngot  %s\nwant %s", dest, show(got), show(want))
	}
}
