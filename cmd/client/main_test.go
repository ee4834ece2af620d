package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestOneProcFirst checks that the client runs on one P and that the
// oneproc package sets that before the heavy initialisers run: this test
// binary imports what the client imports, so the runtime's init trace of a
// re-run of it shows the client's order.
func TestOneProcFirst(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS = %d with the variable unset, want 1", runtime.GOMAXPROCS(0))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("re-run with inittrace: %v\n%s", err, out)
	}
	var order []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order = append(order, f[1])
		}
	}
	at := func(pkg string) int {
		for i, p := range order {
			if p == pkg {
				return i
			}
		}
		t.Fatalf("%s not in the init trace (%d packages)", pkg, len(order))
		return -1
	}
	one := at("github.com/loopgate/loopgate/internal/oneproc")
	for _, heavy := range []string{"golang.org/x/crypto/ssh", "net/http", "github.com/spf13/cobra", "github.com/charmbracelet/log", "crypto/tls"} {
		if at(heavy) < one {
			t.Errorf("%s initialises before internal/oneproc (position %d, want after %d)", heavy, at(heavy), one)
		}
	}
	if one > len(order)/4 {
		t.Errorf("internal/oneproc initialises at position %d of %d, want in the first quarter", one, len(order))
	}
}
