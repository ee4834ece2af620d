package main

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func startTestProc(t testing.TB, args ...string) (*procs, *proc) {
	t.Helper()
	ps := newProcs(t.TempDir())
	t.Cleanup(ps.stopAll)
	p, err := ps.start("test", nil, args...)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return ps, p
}

func TestStopByPID(t *testing.T) {
	_, p := startTestProc(t, "sleep", "30")
	p.stop()
	if !p.exited() {
		t.Fatalf("got running after stop, want exited")
	}
	p.stop() // a second stop is a no-op
}

func TestStopTree(t *testing.T) {
	_, p := startTestProc(t, "sh", "-c", "sleep 30 & sleep 30 & wait")
	p.tree = true
	var kids []int
	for deadline := time.Now().Add(5 * time.Second); len(kids) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		kids = descendants(p.pid())
	}
	if len(kids) != 2 {
		t.Fatalf("got %d descendants, want 2", len(kids))
	}
	p.stop()
	for _, pid := range kids {
		if alive(pid) {
			t.Errorf("got child %d alive after stop, want stopped", pid)
		}
	}
}

// alive reports a process that exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func TestStopAllNewestFirst(t *testing.T) {
	ps := newProcs(t.TempDir())
	for range 3 {
		if _, err := ps.start("sleep", nil, "sleep", "30"); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	list := slices.Clone(ps.list)
	ps.stopAll()
	for _, p := range list {
		if !p.exited() {
			t.Errorf("got %d running after stopAll, want exited", p.pid())
		}
	}
}

func TestChildEnvDropsAgent(t *testing.T) {
	got := childEnv([]string{"HOME=/x", "SSH_AUTH_SOCK=/tmp/agent", "PATH=/bin"})
	want := []string{"HOME=/x", "PATH=/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRaiseNoFile(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	got, err := raiseNoFile(before.Cur)
	if err != nil || got < before.Cur {
		t.Errorf("got %d, %v, want at least %d", got, err, before.Cur)
	}
}

func TestWaitListeningExited(t *testing.T) {
	_, p := startTestProc(t, "true")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p.wait(5 * time.Second)
	if err := waitListening(p, "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		t.Errorf("got nil, want an error for a process that exited")
	}
	if _, err := os.Stat(p.log); err != nil {
		t.Errorf("got %v, want a log file", err)
	}
}
