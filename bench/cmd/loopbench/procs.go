package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

const (
	stopGrace   = 3 * time.Second // SIGTERM to SIGKILL
	killWait    = 2 * time.Second // SIGKILL to giving up
	readyWait   = 15 * time.Second
	readyPoll   = 5 * time.Millisecond
	maxTreeSize = 100000 // bound on the processes a tree walk visits
)

// proc is a child process the tool started. Its output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	tree bool // stop its descendants too (sshd forks per connection)
	done chan struct{}
	err  error // set before done is closed
}

// procs starts children and remembers them, so that stopAll can end every
// one of them by PID, newest first.
type procs struct {
	dir  string
	env  []string
	mu   sync.Mutex
	list []*proc
	seq  int
}

func newProcs(dir string) *procs {
	return &procs{dir: dir, env: childEnv(os.Environ())}
}

// childEnv drops what would make a child reach outside the bench: the
// operator's ssh-agent.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if len(kv) >= 14 && kv[:14] == "SSH_AUTH_SOCK=" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// start runs args with extra environment variables added. stdin is
// /dev/null; stdout and stderr go to DIR/NAME-SEQ.log.
func (ps *procs) start(name string, extraEnv []string, args ...string) (*proc, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("start %s: no command", name)
	}
	ps.mu.Lock()
	ps.seq++
	logPath := filepath.Join(ps.dir, fmt.Sprintf("%s-%d.log", name, ps.seq))
	ps.mu.Unlock()
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append([]string(nil), ps.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a terminal's Ctrl-C reaches only the tool, which
	// then stops the children in order. Pdeathsig covers a killed tool.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stopAll stops every child still running, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := append([]*proc(nil), ps.list...)
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit.
func (p *proc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace, by PID. For a tree
// process, descendants left behind are then stopped the same way.
func (p *proc) stop() {
	var kids []int
	if p.tree && !p.exited() {
		kids = descendants(p.pid())
	}
	if !p.exited() {
		_ = syscall.Kill(p.pid(), syscall.SIGTERM)
		if !p.wait(stopGrace) {
			_ = syscall.Kill(p.pid(), syscall.SIGKILL)
			p.wait(killWait)
		}
	}
	for _, pid := range kids {
		stopPID(pid)
	}
}

// stopPID ends a process that is not our child (an sshd grandchild): it
// cannot be waited for, so its /proc entry is polled.
func stopPID(pid int) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if syscall.Kill(pid, sig) != nil {
			return
		}
		for deadline := time.Now().Add(stopGrace); time.Now().Before(deadline); {
			if st, err := readStat(pid); err != nil || st.state == 'Z' {
				return // gone, or a zombie its new parent has yet to reap
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// tail returns the last bytes of the process's log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// waitListening waits until addr accepts a TCP connection, the process
// exits or readyWait passes.
func waitListening(p *proc, addr string) error {
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, p.tail())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(readyPoll)
	}
	return fmt.Errorf("%s: not listening on %s after %s\n%s", p.name, addr, readyWait, p.tail())
}

// freePort asks the kernel for a free port on 127.0.0.1. Another program
// could take it before the child binds it; on loopback that is rare, and
// the child then fails to start with a clear error.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// raiseNoFile raises RLIMIT_NOFILE to want (the hard limit too, where the
// user may), and returns the soft limit now in force. Setting it
// explicitly also makes children inherit it: Go otherwise restores the
// original soft limit in children.
func raiseNoFile(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("get open files limit: %w", err)
	}
	if rl.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want, nil
		}
	}
	rl.Cur = max(rl.Cur, min(want, rl.Max))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("set open files limit: %w", err)
	}
	return rl.Cur, nil
}
