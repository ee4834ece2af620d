package main

import (
	"flag"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestOneProcFirst checks that the client runs on one P and that the
// oneproc package sets that before the heavy initialisers run: this test
// binary imports what the client imports, so the runtime's init trace of a
// re-run of it shows the client's order.
func TestOneProcFirst(t *testing.T) {
	_, set := os.LookupEnv("GOMAXPROCS")
	if cpu := flag.Lookup("test.cpu"); !set && (cpu == nil || cpu.Value.String() == "") && runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS = %d with the variable unset, want 1", runtime.GOMAXPROCS(0))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	godebug := "inittrace=1"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug = v + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
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
	at := func(pkg string) int { return slices.Index(order, pkg) }
	one := at("github.com/loopgate/loopgate/internal/oneproc")
	if one < 0 {
		t.Fatalf("internal/oneproc not in the init trace (%d packages)", len(order))
	}
	heavies := 0
	for _, heavy := range []string{"golang.org/x/crypto/ssh", "net/http", "github.com/spf13/cobra", "github.com/charmbracelet/log", "crypto/tls"} {
		switch i := at(heavy); {
		case i < 0: // no initialiser in this version
		case i < one:
			t.Errorf("%s initialises before internal/oneproc (position %d, want after %d)", heavy, i, one)
		default:
			heavies++
		}
	}
	if heavies == 0 {
		t.Errorf("none of the heavy packages is in the init trace; the check proves nothing:\n%s", out)
	}
	if one > len(order)/4 {
		t.Errorf("internal/oneproc initialises at position %d of %d, want in the first quarter", one, len(order))
	}
}
