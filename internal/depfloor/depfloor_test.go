package depfloor

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// floor is the lowest version of a module that loopgate accepts, and why.
type floor struct {
	path, min, why string
}

var floors = []floor{
	{"golang.org/x/crypto", "v0.59.0", "the SSH library the gateway and client are reviewed against"},
	{"github.com/golang-jwt/jwt/v5", "v5.2.2", "earlier versions split an untrusted token on every period, allocating about 16 bytes per byte of it (CVE-2025-30204)"},
}

func TestGoModMeetsFloors(t *testing.T) {
	path := findGoMod(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := parseGoMod(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if mod.module != "github.com/loopgate/loopgate" {
		t.Fatalf("%s: got module %q, want github.com/loopgate/loopgate", path, mod.module)
	}
	if err := mod.check(floors); err != nil {
		t.Fatalf("%s:\n%v", path, err)
	}
}

// findGoMod returns the go.mod of the module the test runs in: the first
// one found walking up from the working directory.
func findGoMod(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "go.mod")
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// goMod is what the floor check needs from a go.mod file.
type goMod struct {
	module   string
	requires map[string]string // path -> version
	replaces map[modVersion]modVersion
}

// modVersion is a module path and a version; in a replace directive's left
// side an empty version means every version, on its right side a directory.
type modVersion struct {
	path, version string
}

// parseGoMod reads the module, require and replace directives of a go.mod
// file, single-line or in blocks, and skips every other directive.
func parseGoMod(text string) (goMod, error) {
	m := goMod{requires: map[string]string{}, replaces: map[modVersion]modVersion{}}
	block := ""
	for n, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		var err error
		switch {
		case len(f) == 0:
		case block != "" && f[0] == ")":
			block = ""
		case block != "":
			err = m.directive(block, f)
		case len(f) == 2 && f[1] == "(":
			block = f[0]
		default:
			err = m.directive(f[0], f[1:])
		}
		if err != nil {
			return goMod{}, fmt.Errorf("go.mod:%d: %w", n+1, err)
		}
	}
	return m, nil
}

// directive records one module, require or replace directive given as its
// verb and arguments; other verbs are ignored.
func (m *goMod) directive(verb string, args []string) error {
	for i, a := range args {
		if u, err := strconv.Unquote(a); err == nil {
			args[i] = u
		}
	}
	switch verb {
	case "module":
		if len(args) != 1 {
			return errors.New("malformed module directive")
		}
		m.module = args[0]
	case "require":
		if len(args) != 2 {
			return errors.New("malformed require directive")
		}
		if _, dup := m.requires[args[0]]; dup {
			return fmt.Errorf("%s required twice", args[0])
		}
		m.requires[args[0]] = args[1]
	case "replace":
		return m.replace(args)
	}
	return nil
}

// replace records "old [v] => new [v]".
func (m *goMod) replace(args []string) error {
	arrow := -1
	for i, a := range args {
		if a == "=>" {
			arrow = i
		}
	}
	left, right := args[:max(arrow, 0)], args[arrow+1:]
	if arrow < 1 || len(left) > 2 || len(right) < 1 || len(right) > 2 {
		return errors.New("malformed replace directive")
	}
	var old, repl modVersion
	old.path, repl.path = left[0], right[0]
	if len(left) == 2 {
		old.version = left[1]
	}
	if len(right) == 2 {
		repl.version = right[1]
	}
	m.replaces[old] = repl
	return nil
}

// version returns the version of path the build uses: the required one, or
// the one a replace directive puts in its place.
func (m goMod) version(path string) (string, error) {
	v, ok := m.requires[path]
	if !ok {
		return "", fmt.Errorf("%s is not required", path)
	}
	repl, ok := m.replaces[modVersion{path, v}]
	if !ok {
		repl, ok = m.replaces[modVersion{path, ""}]
	}
	switch {
	case !ok:
		return v, nil
	case repl.version == "":
		return "", fmt.Errorf("%s %s is replaced by directory %s, whose version cannot be checked", path, v, repl.path)
	case repl.path != path:
		return "", fmt.Errorf("%s %s is replaced by %s %s, whose version cannot be checked", path, v, repl.path, repl.version)
	}
	return repl.version, nil
}

// check returns every floor that m does not meet, joined, or nil.
func (m goMod) check(floors []floor) error {
	var errs []error
	for _, f := range floors {
		if err := m.checkOne(f); err != nil {
			errs = append(errs, fmt.Errorf("%w\n\tneeded because: %s\n\tfix: go get %s@%s", err, f.why, f.path, f.min))
		}
	}
	return errors.Join(errs...)
}

func (m goMod) checkOne(f floor) error {
	v, err := m.version(f.path)
	if err != nil {
		return err
	}
	have, err := parseSemver(v)
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	want, err := parseSemver(f.min)
	if err != nil {
		return fmt.Errorf("floor for %s: %w", f.path, err)
	}
	if compareSemver(have, want) < 0 {
		return fmt.Errorf("%s %s is below the floor %s", f.path, v, f.min)
	}
	return nil
}

// semver is a parsed vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; build
// metadata (such as +incompatible) does not order versions and is dropped.
type semver struct {
	core [3]string // decimal, no leading zeros
	pre  []string  // dot-separated pre-release identifiers; nil for a release
}

// parseSemver parses a module version as Go writes it, pseudo-versions
// included: v0.59.1-0.20250101000000-abcdef123456 is a pre-release of v0.59.1.
func parseSemver(v string) (semver, error) {
	bad := fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]", v)
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return semver{}, bad
	}
	rest, build, hasBuild := strings.Cut(rest, "+")
	core, pre, hasPre := strings.Cut(rest, "-")
	var s semver
	parts := strings.Split(core, ".")
	if len(parts) != 3 || (hasBuild && !validIdents(build, false)) || (hasPre && !validIdents(pre, true)) {
		return semver{}, bad
	}
	for i, p := range parts {
		if !isNumber(p) {
			return semver{}, bad
		}
		s.core[i] = p
	}
	if hasPre {
		s.pre = strings.Split(pre, ".")
	}
	return s, nil
}

// validIdents reports whether s is dot-separated non-empty identifiers of
// [0-9A-Za-z-]; in a pre-release, numeric ones may not have leading zeros.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
			return false
		}
		if pre && isDigits(id) && !isNumber(id) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// isNumber reports whether s is a decimal number without leading zeros.
func isNumber(s string) bool { return isDigits(s) && (s == "0" || s[0] != '0') }

// compareSemver orders versions by semver precedence: -1, 0 or +1.
func compareSemver(a, b semver) int {
	for i := range a.core {
		if c := compareNumbers(a.core[i], b.core[i]); c != 0 {
			return c
		}
	}
	switch {
	case a.pre == nil && b.pre == nil:
		return 0
	case a.pre == nil:
		return 1 // a release is above its own pre-releases
	case b.pre == nil:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := compareIdent(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.pre), len(b.pre))
}

// compareIdent orders pre-release identifiers: numeric ones by value and
// below alphanumeric ones, which order by ASCII.
func compareIdent(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		return compareNumbers(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// compareNumbers orders decimal numbers without leading zeros, of any size.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func TestCompareSemver(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "v0.59.0", "v0.59.0", 0},
		{"patch below", "v0.58.0", "v0.59.0", -1},
		{"jwt below", "v5.2.1", "v5.2.2", -1},
		{"jwt above", "v5.3.1", "v5.2.2", 1},
		{"numeric not lexical", "v0.10.0", "v0.9.9", 1},
		{"major wins", "v1.0.0", "v0.99.99", 1},
		{"pseudo below its release", "v0.59.1-0.20250101000000-abcdef123456", "v0.59.1", -1},
		{"pseudo above the previous release", "v0.59.1-0.20250101000000-abcdef123456", "v0.59.0", 1},
		{"pseudo of the floor is below it", "v0.59.0-0.20250101000000-abcdef123456", "v0.59.0", -1},
		{"pseudo without a base", "v0.0.0-20231006140011-7918f672742d", "v0.0.1", -1},
		{"pseudos by time", "v0.59.1-0.20250101000000-abcdef123456", "v0.59.1-0.20250102000000-000000000000", -1},
		{"pseudo after a pre-release", "v1.2.3-rc.1.0.20250101000000-abcdef123456", "v1.2.3-rc.1", 1},
		{"release above rc", "v1.0.0", "v1.0.0-rc.1", 1},
		{"shorter pre-release first", "v1.0.0-alpha", "v1.0.0-alpha.1", -1},
		{"numeric below alphanumeric", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", -1},
		{"numeric identifiers by value", "v1.0.0-beta.2", "v1.0.0-beta.11", -1},
		{"alphanumeric by ascii", "v1.0.0-Beta", "v1.0.0-alpha", -1},
		{"build metadata ignored", "v2.0.0+incompatible", "v2.0.0", 0},
		{"huge numbers", "v99999999999999999999.0.0", "v99999999999999999998.0.0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseSemver(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseSemver(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := compareSemver(a, b); got != tt.want {
				t.Errorf("compare(%s, %s): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := compareSemver(b, a); got != -tt.want {
				t.Errorf("compare(%s, %s): got %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestParseSemverRejects(t *testing.T) {
	tests := []struct{ name, v string }{
		{"empty", ""},
		{"no v", "0.59.0"},
		{"two parts", "v0.59"},
		{"four parts", "v0.59.0.1"},
		{"leading zero", "v0.059.0"},
		{"sign", "v-1.2.3"},
		{"letters", "vx.y.z"},
		{"empty pre-release", "v1.2.3-"},
		{"empty identifier", "v1.2.3-a..b"},
		{"leading zero in pre-release number", "v1.2.3-01"},
		{"bad character", "v1.2.3-a_b"},
		{"empty build", "v1.2.3+"},
		{"blank", "v1.2.3 "},
		{"latest", "latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := parseSemver(tt.v); err == nil {
				t.Errorf("parseSemver(%q): got %+v, want an error", tt.v, s)
			}
		})
	}
}

// goModText returns a go.mod with the given lines inside its require block.
func goModText(lines ...string) string {
	return "module github.com/loopgate/loopgate\n\ngo 1.26.8\n\nrequire (\n\t" +
		strings.Join(lines, "\n\t") + "\n)\n"
}

const (
	cryptoOK = "golang.org/x/crypto v0.59.0"
	jwtOK    = "github.com/golang-jwt/jwt/v5 v5.2.2"
)

func TestCheckFloors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // substring of the error; "" for none
	}{
		{"at the floors", goModText(cryptoOK, jwtOK), ""},
		{"above the floors", goModText("golang.org/x/crypto v0.60.0 // indirect", "github.com/golang-jwt/jwt/v5 v5.3.1"), ""},
		{"pseudo-version above", goModText("golang.org/x/crypto v0.59.1-0.20250101000000-abcdef123456", jwtOK), ""},
		{"crypto below", goModText("golang.org/x/crypto v0.58.0", jwtOK), "golang.org/x/crypto v0.58.0 is below the floor v0.59.0"},
		{"jwt below", goModText(cryptoOK, "github.com/golang-jwt/jwt/v5 v5.2.1"), "github.com/golang-jwt/jwt/v5 v5.2.1 is below the floor v5.2.2"},
		{"pseudo-version of the floor", goModText("golang.org/x/crypto v0.59.0-0.20250101000000-abcdef123456", jwtOK), "is below the floor v0.59.0"},
		{"jwt missing", goModText(cryptoOK, "github.com/golang-jwt/jwt/v4 v4.5.2"), "github.com/golang-jwt/jwt/v5 is not required"},
		{"crypto missing", goModText(jwtOK), "golang.org/x/crypto is not required"},
		{"only in a comment", goModText(jwtOK, "// golang.org/x/crypto v0.59.0"), "golang.org/x/crypto is not required"},
		{"single-line require", "module m\nrequire golang.org/x/crypto v0.59.0\nrequire \"github.com/golang-jwt/jwt/v5\" v5.2.2\n", ""},
		{"replaced by an older version", goModText(cryptoOK, jwtOK) + "replace golang.org/x/crypto => golang.org/x/crypto v0.50.0\n", "golang.org/x/crypto v0.50.0 is below"},
		{"replace of the required version", goModText(cryptoOK, jwtOK) + "replace (\n\tgithub.com/golang-jwt/jwt/v5 v5.2.2 => github.com/golang-jwt/jwt/v5 v5.0.0\n)\n", "github.com/golang-jwt/jwt/v5 v5.0.0 is below"},
		{"replace of another version", goModText(cryptoOK, jwtOK) + "replace github.com/golang-jwt/jwt/v5 v5.0.0 => github.com/golang-jwt/jwt/v5 v5.0.1\n", ""},
		{"replaced by a directory", goModText(cryptoOK, jwtOK) + "replace golang.org/x/crypto => ../crypto\n", "replaced by directory ../crypto"},
		{"replaced by a fork", goModText(cryptoOK, jwtOK) + "replace golang.org/x/crypto => example.com/crypto v9.0.0\n", "replaced by example.com/crypto v9.0.0"},
		{"not a version", goModText("golang.org/x/crypto master", jwtOK), `version "master" is not`},
		{"both below", goModText("golang.org/x/crypto v0.31.0", "github.com/golang-jwt/jwt/v5 v5.0.0"), "v0.31.0 is below the floor v0.59.0\n\tneeded because"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod, err := parseGoMod(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			err = mod.check(floors)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseGoModRejects(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"require without version", "module m\nrequire golang.org/x/crypto\n", "go.mod:2: malformed require"},
		{"required twice", goModText(cryptoOK, "golang.org/x/crypto v0.60.0"), "go.mod:7: golang.org/x/crypto required twice"},
		{"replace without arrow", "module m\nreplace a v1.0.0 b v1.0.0\n", "go.mod:2: malformed replace"},
		{"replace without target", "module m\nreplace a =>\n", "go.mod:2: malformed replace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGoMod(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
