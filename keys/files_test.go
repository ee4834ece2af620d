package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestCheckPrivateFile(t *testing.T) {
	skipWithoutUnixPermissions(t)
	tests := []struct {
		name    string
		perm    os.FileMode
		wantErr bool
	}{
		{name: "0600", perm: 0o600},
		{name: "0400", perm: 0o400},
		{name: "0700", perm: 0o700},
		{name: "0644", perm: 0o644, wantErr: true},
		{name: "0640", perm: 0o640, wantErr: true},
		{name: "0604", perm: 0o604, wantErr: true},
		{name: "0610", perm: 0o610, wantErr: true},
		{name: "0666", perm: 0o666, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTestFile(t, "key", []byte("x"), tt.perm)
			err := CheckPrivateFile(path)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadPermissions) {
				t.Errorf("got %v, want it to wrap ErrBadPermissions", err)
			}
		})
	}
}

func TestCheckPrivateFileMessage(t *testing.T) {
	skipWithoutUnixPermissions(t)
	path := writeTestFile(t, "host_ed25519_key", []byte("x"), 0o644)
	got := CheckPrivateFile(path).Error()
	want := fmt.Sprintf(`bad permissions: %q is mode 0644; it must not be accessible by others (run: chmod 600 %s)`, path, path)
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var perm *PermissionError
	if err := CheckPrivateFile(path); !errors.As(err, &perm) || perm.Fix != "chmod 600 "+path || perm.Path != path {
		t.Errorf("got %#v, want a *PermissionError with Fix %q", err, "chmod 600 "+path)
	}
}

func TestCheckNotWritable(t *testing.T) {
	skipWithoutUnixPermissions(t)
	tests := []struct {
		name    string
		perm    os.FileMode
		wantErr bool
	}{
		{name: "0644", perm: 0o644},
		{name: "0600", perm: 0o600},
		{name: "0444", perm: 0o444},
		{name: "0755", perm: 0o755},
		{name: "0666", perm: 0o666, wantErr: true},
		{name: "0664", perm: 0o664, wantErr: true},
		{name: "0646", perm: 0o646, wantErr: true},
		{name: "0620", perm: 0o620, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTestFile(t, "authorized_keys", []byte("x"), tt.perm)
			err := CheckNotWritable(path)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadPermissions) {
				t.Errorf("got %v, want it to wrap ErrBadPermissions", err)
			}
			if err != nil && !strings.Contains(err.Error(), "chmod go-w") {
				t.Errorf("got %q, want a chmod go-w hint", err)
			}
		})
	}
}

func TestCheckRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	for name, check := range map[string]func(string) error{
		"CheckPrivateFile": CheckPrivateFile,
		"CheckNotWritable": CheckNotWritable,
	} {
		t.Run(name, func(t *testing.T) {
			if err := check(dir); !errors.Is(err, ErrBadPermissions) {
				t.Errorf("got %v, want ErrBadPermissions for a directory", err)
			}
			if err := check(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("got %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func TestCheckOwner(t *testing.T) {
	skipWithoutUnixPermissions(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	path := writeTestFile(t, "key", []byte("x"), 0o600)
	if err := os.Chown(path, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func(string) error{
		"CheckPrivateFile": CheckPrivateFile,
		"CheckNotWritable": CheckNotWritable,
	} {
		err := check(path)
		if !errors.Is(err, ErrBadPermissions) || !strings.Contains(err.Error(), "owned by uid 12345") {
			t.Errorf("%s: got %v, want an ownership error", name, err)
		}
		// As root, the advice is to run as the owner, never to chown to root
		// (which would lock the service user out of its own keys).
		if strings.Contains(err.Error(), "chown") || !strings.Contains(err.Error(), "sudo -u '#12345'") {
			t.Errorf("%s: got %v, want advice to run as uid 12345 and no chown", name, err)
		}
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "/etc/loopgate/host_key", want: "/etc/loopgate/host_key"},
		{name: "space", in: "/tmp/a b", want: "'/tmp/a b'"},
		{name: "quote", in: "/tmp/it's", want: `'/tmp/it'\''s'`},
		{name: "empty", in: "", want: "''"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name     string
		existing []byte
		perm     os.FileMode
	}{
		{name: "new file", perm: 0o600},
		{name: "new file 0644", perm: 0o644},
		{name: "group writable perm bypasses umask", perm: 0o664},
		{name: "replace", existing: []byte("old contents that are longer"), perm: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.existing != nil {
				if err := os.WriteFile(path, tt.existing, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(path, []byte("new"), tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != "new" {
				t.Fatalf("got %q, %v, want %q", got, err, "new")
			}
			if unixPermissions {
				if got := fileMode(t, path); got != tt.perm {
					t.Errorf("got mode %04o, want %04o", got, tt.perm)
				}
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"f"}) {
				t.Errorf("got directory %q, want only f", got)
			}
		})
	}
}

func TestWriteFileAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "inside"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("data"), 0o600); err == nil {
		t.Fatal("got nil error renaming over a non-empty directory, want an error")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"target"}) {
		t.Errorf("got directory %q, want only target", got)
	}
	missing := filepath.Join(dir, "nodir", "f")
	if err := WriteFileAtomic(missing, []byte("data"), 0o600); err == nil {
		t.Error("got nil error writing into a missing directory, want an error")
	}
}

func TestCreateFileExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := CreateFileExclusive(path, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	if unixPermissions {
		if got := fileMode(t, path); got != 0o640 {
			t.Errorf("got mode %04o, want 0640", got)
		}
	}
	err := CreateFileExclusive(path, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Errorf("got %q, want first", got)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("got directory %q, want only f", got)
	}
}

func TestCreateFileExclusiveDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), path); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if err := CreateFileExclusive(path, []byte("x"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("got %v, want fs.ErrExist", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"link"}) {
		t.Errorf("got directory %q, want only link", got)
	}
}

func TestCreateFileExclusiveWithoutHardLinks(t *testing.T) {
	tests := []struct {
		name      string
		raceFirst bool // another process creates path between the checks
		wantErr   error
	}{
		{name: "fallback creates", wantErr: nil},
		{name: "fallback refuses existing", raceFirst: true, wantErr: fs.ErrExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			linkFile = func(_, newname string) error {
				if tt.raceFirst {
					os.WriteFile(newname, []byte("theirs"), 0o600)
				}
				return &os.LinkError{Op: "link", Err: syscall.EPERM}
			}
			t.Cleanup(func() { linkFile = os.Link })
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			err := CreateFileExclusive(path, []byte("ours"), 0o644)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			want := "ours"
			if tt.raceFirst {
				want = "theirs"
			}
			if got, _ := os.ReadFile(path); string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"f"}) {
				t.Errorf("got directory %q, want only f", got)
			}
		})
	}
}
