package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// gatewayBin is the gateway binary that TestMain built for this run.
var gatewayBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "loopgate-integration-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: make temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "gateway")
	if err := build(gatewayBin, "github.com/loopgate/loopgate/cmd/gateway"); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	clientBin = filepath.Join(dir, "client")
	clientBuildErr = build(clientBin, "github.com/loopgate/loopgate/cmd/client")
	return m.Run()
}

// build compiles pkg into the file out with the go command from PATH.
func build(out, pkg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
