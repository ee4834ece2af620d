package oneproc

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })

	runtime.GOMAXPROCS(2)
	if !apply(func(string) (string, bool) { return "", false }) {
		t.Error("apply with GOMAXPROCS unset reported no change")
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS after apply with the variable unset = %d, want 1", got)
	}

	runtime.GOMAXPROCS(2) // what the runtime would have read from the variable
	if apply(func(k string) (string, bool) { return "2", k == "GOMAXPROCS" }) {
		t.Error("apply with GOMAXPROCS=2 set reported a change")
	}
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("GOMAXPROCS after apply with GOMAXPROCS=2 set = %d, want 2 (the operator's setting)", got)
	}
}

// TestInit runs this test binary again, with and without GOMAXPROCS in its
// environment, and checks what the package's initialiser left in place.
func TestInit(t *testing.T) {
	if os.Getenv("ONEPROC_CHILD") == "1" {
		os.Stdout.WriteString("procs=" + strconv.Itoa(runtime.GOMAXPROCS(0)) + "\n")
		return
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "procs=1"},
		{[]string{"GOMAXPROCS=2"}, "procs=2"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInit$")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOMAXPROCS=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(append(cmd.Env, "ONEPROC_CHILD=1"), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %v: %v\n%s", tc.env, err, out)
		}
		if !strings.Contains(string(out), tc.want+"\n") {
			t.Errorf("child with env %v printed %q, want %q", tc.env, out, tc.want)
		}
	}
}
