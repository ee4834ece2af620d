package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes are not checked on Windows")
	}
	dir := t.TempDir()
	write := func(name string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		file File
		want Status
		fix  string
	}{
		{name: "private 0600", file: File{Path: write("key", 0o600), Private: true, What: "host key"}, want: Pass},
		{name: "private 0644", file: File{Path: write("key644", 0o644), Private: true, What: "host key"}, want: Fail, fix: "chmod 600"},
		{name: "config 0644", file: File{Path: write("conf", 0o644), What: "config"}, want: Pass},
		{name: "config 0666", file: File{Path: write("conf666", 0o666), What: "config"}, want: Fail, fix: "chmod go-w"},
		{name: "missing", file: File{Path: filepath.Join(dir, "nope"), What: "token key", Private: true}, want: Fail, fix: "restore"},
		{name: "a directory", file: File{Path: dir, What: "config"}, want: Fail, fix: "regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Files([]File{tc.file})
			r := rs[len(rs)-1] // after the running-as-root warning, if any
			if r.Status != tc.want || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("got %v %q fix %q, want %v with a fix containing %q", r.Status, r.Detail, r.Fix, tc.want, tc.fix)
			}
		})
	}
}

func TestHostKeysAndConfig(t *testing.T) {
	if rs := HostKeys(nil); len(rs) != 1 || rs[0].Status != Fail {
		t.Errorf("no host key: got %v, want one fail", rs)
	}
	if rs := HostKeys([]string{filepath.Join(t.TempDir(), "missing")}); rs[0].Status != Fail || !strings.Contains(rs[0].Fix, "ssh-keygen") {
		t.Errorf("missing host key: got %v, want a fail with an ssh-keygen fix", rs)
	}
	if r := Config("gw.conf", nil, true); r.Status != Pass {
		t.Errorf("no problems: got %v", r)
	}
	if r := Config("gw.conf", []error{errors.New("a"), errors.New("b")}, true); r.Status != Fail || !strings.Contains(r.Detail, "2 problems") {
		t.Errorf("two problems: got %v", r)
	}
	missing := fmt.Errorf("stat gw.conf: %w", fs.ErrNotExist)
	if r := Config("gw.conf", []error{missing}, false); r.Status != Fail || !strings.Contains(r.Fix, "gateway init") {
		t.Errorf("missing config: got %v, want a fail pointing at gateway init", r)
	}
	if r := Config("gw.conf", []error{missing}, true); strings.Contains(r.Fix, "gateway init") {
		t.Errorf("a missing file the config names: got fix %q, want gateway check", r.Fix)
	}
}

func TestWrite(t *testing.T) {
	rs := []Result{
		{Check: "answers", Subject: "nanomq", Status: Pass, Detail: "HTTP 401"},
		{Check: "listens on loopback only", Subject: "nanomq", Status: Fail, Detail: "0.0.0.0:8081\n(every interface)", Fix: "set ip_addr"},
		{Check: "gateway is listening", Subject: ":2222", Status: Warn, Detail: "not running", Fix: "start it"},
	}
	var b strings.Builder
	if err := Write(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"STATUS", "pass  ", "FAIL  ", "fix: set ip_addr", "fix: start it", "1 passed, 1 warnings, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "8081\n(") {
		t.Errorf("a newline in a detail broke the table:\n%s", out)
	}
	if !Failed(rs) || Failed(rs[:1]) {
		t.Error("Failed: wrong verdict")
	}
}
