package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// onTerminal runs command under script(1), on a pseudo-terminal that answers
// no queries, as a serial console or a bare multiplexer would.
func onTerminal(t *testing.T, env []string, command string) (out string, took time.Duration) {
	t.Helper()
	script := needTool(t, "script")
	start := time.Now()
	res := runCmd(t, env, script, "-qec", command, "/dev/null")
	return res.stdout + res.stderr, time.Since(start)
}

// TestTerminalLogs: on a terminal the logs are coloured, without asking the
// terminal anything (charmbracelet/log's colour queries waited 10 s for an
// answer that never came); NO_COLOR turns colour off; a pipe gets plain text.
func TestTerminalLogs(t *testing.T) {
	needClient(t)
	key := newOperator(t, "alice").key
	cmd := clientBin + " services alice@127.0.0.1 -p 1 -F none -i " + key + " --known-hosts " + filepath.Join(t.TempDir(), "kh")
	// An operator's terminal: termenv, like many tools, never colours when
	// CI is set, so the child does not inherit it.
	var env []string
	for _, kv := range sshEnv("") {
		if !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	env = append(env, "TERM=xterm-256color")

	out, took := onTerminal(t, env, cmd)
	if took > 3*time.Second {
		t.Errorf("on a terminal that answers nothing: took %v, want well under 3s", took)
	}
	for _, query := range []string{"\x1b]10;?", "\x1b]11;?", "\x1b[6n"} {
		if strings.Contains(out, query) {
			t.Errorf("output queries the terminal with %q:\n%q", query, out)
		}
	}
	if !strings.Contains(out, "\x1b[") || !strings.Contains(out, "INFO") || !strings.Contains(out, "connecting") {
		t.Errorf("on a terminal: want a coloured INFO connecting line, got %q", out)
	}

	out, _ = onTerminal(t, append(env, "NO_COLOR=1"), cmd)
	if strings.Contains(out, "\x1b[") {
		t.Errorf("with NO_COLOR: got escape sequences in %q", out)
	}

	res := runCmd(t, env, clientBin, strings.Fields(cmd)[1:]...)
	if strings.Contains(res.stderr, "\x1b") || !strings.Contains(res.stderr, "INFO connecting") {
		t.Errorf("to a pipe: want plain text with INFO connecting, got %q", res.stderr)
	}
}
