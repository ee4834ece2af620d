package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// secretMark is in every secret the credential tests write, so that a
// leak into an error message is easy to spot.
const secretMark = "s3cr3t"

// writeCredFile writes content to a new file with mode and returns its path.
func writeCredFile(t testing.TB, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cred")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

func basicOf(pair string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(pair)) }

func TestCredentialFromFile(t *testing.T) {
	tests := []struct {
		name    string
		basic   bool
		content string
		mode    os.FileMode
		want    string // header value; "" when an error is wanted
		wantErr string
		unix    bool // the mode check only exists on Unix
	}{
		{name: "bearer", content: secretMark, mode: 0o600, want: "Bearer " + secretMark},
		{name: "bearer mode 0400", content: secretMark, mode: 0o400, want: "Bearer " + secretMark},
		{name: "bearer trailing newline trimmed", content: secretMark + "\n", mode: 0o600, want: "Bearer " + secretMark},
		{name: "bearer trailing crlf trimmed", content: secretMark + "\r\n", mode: 0o600, want: "Bearer " + secretMark},
		{name: "bearer two newlines", content: secretMark + "\n\n", mode: 0o600, wantErr: "control character"},
		{name: "bearer readable by others", content: secretMark, mode: 0o644, wantErr: "bad permissions", unix: true},
		{name: "bearer readable by group", content: secretMark, mode: 0o640, wantErr: "bad permissions", unix: true},
		{name: "bearer empty", content: "", mode: 0o600, wantErr: "empty"},
		{name: "bearer only a newline", content: "\n", mode: 0o600, wantErr: "empty"},
		{name: "bearer leading space", content: " " + secretMark, mode: 0o600, wantErr: "white space"},
		{name: "bearer trailing space", content: secretMark + " \n", mode: 0o600, wantErr: "white space"},
		{name: "bearer inner space", content: secretMark + " x", mode: 0o600, wantErr: "white space"},
		{name: "bearer tab", content: secretMark + "\tx", mode: 0o600, wantErr: "control character"},
		{name: "bearer nul", content: secretMark + "\x00", mode: 0o600, wantErr: "control character"},
		{name: "bearer escape", content: secretMark + "\x1b[2J", mode: 0o600, wantErr: "control character"},
		{name: "bearer c1 control", content: secretMark + "\u0085", mode: 0o600, wantErr: "control character"},
		{name: "bearer bad utf-8", content: secretMark + "\xff", mode: 0o600, wantErr: "UTF-8"},
		{name: "bearer too large", content: strings.Repeat(secretMark, maxCredentialFile), mode: 0o600, wantErr: "larger"},
		{name: "basic", basic: true, content: "admin:" + secretMark, mode: 0o600, want: basicOf("admin:" + secretMark)},
		{name: "basic trailing newline trimmed", basic: true, content: "admin:" + secretMark + "\n", mode: 0o600,
			want: basicOf("admin:" + secretMark)},
		{name: "basic colon in password", basic: true, content: "admin:" + secretMark + ":x", mode: 0o600,
			want: basicOf("admin:" + secretMark + ":x")},
		{name: "basic space in password", basic: true, content: "admin:" + secretMark + " x", mode: 0o600,
			want: basicOf("admin:" + secretMark + " x")},
		{name: "basic empty password", basic: true, content: "admin:", mode: 0o600, want: basicOf("admin:")},
		{name: "basic without colon", basic: true, content: "admin" + secretMark, mode: 0o600, wantErr: "no ':'"},
		{name: "basic empty user", basic: true, content: ":" + secretMark, mode: 0o600, wantErr: "empty user"},
		{name: "basic readable by others", basic: true, content: "admin:" + secretMark, mode: 0o644,
			wantErr: "bad permissions", unix: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unix && runtime.GOOS == "windows" {
				t.Skip("file modes are not checked on Windows")
			}
			path := writeCredFile(t, tt.content, tt.mode)
			load := BearerFromFile
			if tt.basic {
				load = BasicFromFile
			}
			c, err := load(path)
			checkCredential(t, c, err, tt.want, tt.wantErr, path)
		})
	}
}

// checkCredential compares a loaded credential with want, or its error with
// wantErr; an error must name where (the file or variable) and never hold
// the secret.
func checkCredential(t testing.TB, c Credential, err error, want, wantErr, where string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Fatalf("got no error, want one mentioning %q", wantErr)
		}
		msg := err.Error()
		if !strings.Contains(msg, wantErr) || !strings.Contains(msg, where) {
			t.Errorf("error: got %q, want it to mention %q and %q", msg, wantErr, where)
		}
		if strings.Contains(msg, secretMark) && !strings.Contains(where, secretMark) {
			t.Errorf("error leaks the secret: %q", msg)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	got, err := c.Authorization(context.Background())
	if err != nil || got != want {
		t.Errorf("Authorization: got %q, %v, want %q", got, err, want)
	}
}

func TestCredentialFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	_, err := BearerFromFile(path)
	checkCredential(t, nil, err, "", "no such file", path)
}

func TestCredentialFileIsDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := BasicFromFile(dir)
	checkCredential(t, nil, err, "", "basic credential file", dir)
}

func TestCredentialFromEnv(t *testing.T) {
	const name = "LOOPGATE_TEST_CREDENTIAL"
	tests := []struct {
		name    string
		basic   bool
		value   string
		unset   bool
		want    string
		wantErr string
	}{
		{name: "bearer", value: secretMark, want: "Bearer " + secretMark},
		{name: "bearer trailing newline", value: secretMark + "\n", want: "Bearer " + secretMark},
		{name: "basic", basic: true, value: "admin:" + secretMark, want: basicOf("admin:" + secretMark)},
		{name: "unset", unset: true, wantErr: "unset or empty"},
		{name: "empty", value: "", wantErr: "unset or empty"},
		{name: "basic without colon", basic: true, value: secretMark, wantErr: "no ':'"},
		{name: "bearer with space", value: secretMark + " x", wantErr: "white space"},
		{name: "bearer with newline", value: secretMark + "\nx", wantErr: "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(name, tt.value)
			if tt.unset {
				os.Unsetenv(name)
			}
			load := BearerFromEnv
			if tt.basic {
				load = BasicFromEnv
			}
			c, err := load(name)
			checkCredential(t, c, err, tt.want, tt.wantErr, name)
		})
	}
}

func TestCredentialFromEnvNoName(t *testing.T) {
	if _, err := BearerFromEnv(""); err == nil {
		t.Error("BearerFromEnv(\"\"): got no error, want one")
	}
}

func TestCredentialNeverPrinted(t *testing.T) {
	const pw = secretMark + "-pw"
	t.Setenv("LOOPGATE_TEST_BASIC", "admin:"+pw)
	basicCred, err := BasicFromEnv("LOOPGATE_TEST_BASIC")
	if err != nil {
		t.Fatal(err)
	}
	bearerCred, err := BearerFromFile(writeCredFile(t, secretMark+"-token\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{secretMark, base64.StdEncoding.EncodeToString([]byte("admin:" + pw))}
	for _, c := range []Credential{basicCred, bearerCred} {
		cfg := Config{Credential: c, Service: testService}
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v"} {
			out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
		}
		j1, _ := json.Marshal(c)
		j2, _ := json.Marshal(struct{ C Credential }{c})
		out = append(out, string(j1), string(j2), fmt.Sprint(c), fmt.Sprintln(c))
		var logBuf strings.Builder
		for _, h := range []slog.Handler{slog.NewTextHandler(&logBuf, nil), slog.NewJSONHandler(&logBuf, nil)} {
			slog.New(h).Info("cred", "c", c, "cfg", cfg, slog.Any("any", c))
		}
		out = append(out, logBuf.String())
		for _, s := range out {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("printed credential leaks the secret: %q", s)
				}
			}
		}
		for _, got := range []string{c.(fmt.Stringer).String(), c.(fmt.GoStringer).GoString()} {
			if got != redacted {
				t.Errorf("String/GoString: got %q, want %q", got, redacted)
			}
		}
		if got := fmt.Sprintf("%v", c); got != redacted {
			t.Errorf("%%v: got %q, want %q", got, redacted)
		}
	}
}
