package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tools are the absolute paths of the OpenSSH programs, and of wrk.
type tools struct {
	sshd, ssh, keygen string
	wrk               string // optional: "" when not installed (see wrk.go)
}

// findTools locates sshd (which refuses a relative path), ssh,
// ssh-keygen and, if installed, wrk.
func findTools() (tools, error) {
	var t tools
	var err error
	if t.sshd, err = lookAbs("sshd", "/usr/sbin/sshd", "/usr/local/sbin/sshd"); err != nil {
		return t, err
	}
	if t.ssh, err = lookAbs("ssh", "/usr/bin/ssh"); err != nil {
		return t, err
	}
	if t.keygen, err = lookAbs("ssh-keygen", "/usr/bin/ssh-keygen"); err != nil {
		return t, err
	}
	t.wrk, _ = lookAbs("wrk", "/usr/bin/wrk")
	return t, nil
}

func lookAbs(name string, fallbacks ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	for _, p := range fallbacks {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s: not in PATH or %s; install OpenSSH (client and server)", name, strings.Join(fallbacks, ", "))
}

// keygen makes an ed25519 key pair at path and path.pub.
func keygen(t tools, path, comment string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, t.keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen %s: %w: %s", path, err, out)
	}
	return nil
}

// opensshSetup is the files every sshd instance shares: a host key and
// authorized_keys holding the bench key, for the user running the bench.
type opensshSetup struct {
	tools
	dir, hostKey, authKeys, user string
}

func setupOpenSSH(t tools, dir, userPub string) (*opensshSetup, error) {
	s := &opensshSetup{tools: t, dir: dir, hostKey: filepath.Join(dir, "ssh_host_ed25519_key"),
		authKeys: filepath.Join(dir, "sshd_authorized_keys")}
	if err := keygen(t, s.hostKey, "loopbench-sshd"); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(userPub)
	if err != nil {
		return nil, fmt.Errorf("read user key: %w", err)
	}
	if err := os.WriteFile(s.authKeys, pub, 0o600); err != nil {
		return nil, fmt.Errorf("write sshd authorized_keys: %w", err)
	}
	if s.user, err = currentUser(); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 { // sshd started by root insists on its privilege separation dir
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("make sshd privilege separation dir: %w", err)
		}
	}
	return s, nil
}

func currentUser() (string, error) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("current user: unknown")
}

// sshdConfig is a private sshd: 127.0.0.1 only, public keys only, local
// forwarding to the upstream only, nothing else.
func (s *opensshSetup) sshdConfig(port int, pidFile, upAddr string) string {
	return strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + s.hostKey,
		"AuthorizedKeysFile " + s.authKeys,
		"PidFile " + pidFile,
		"UsePAM no",
		"StrictModes no", // the temp dir's parents are not ours to check
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AuthenticationMethods publickey",
		"AllowTcpForwarding local",
		"PermitOpen " + upAddr,
		"AllowAgentForwarding no",
		"AllowStreamLocalForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		"LogLevel INFO",
	}, "\n") + "\n"
}

// sshdInst is one running sshd listener.
type sshdInst struct {
	p          *proc
	port       int
	knownHosts string
}

// startSSHD starts `sshd -D -e -f CONF` on a free port and waits until it
// listens. Its per-connection children are stopped with it.
func (s *opensshSetup) startSSHD(ps *procs, name, upAddr string) (*sshdInst, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(s.dir, "sshd_config-"+name)
	pidFile := filepath.Join(s.dir, "sshd-"+name+".pid")
	if err := os.WriteFile(conf, []byte(s.sshdConfig(port, pidFile, upAddr)), 0o600); err != nil {
		return nil, fmt.Errorf("write sshd config: %w", err)
	}
	kh, err := writeKnownHosts(s.dir, "sshd-"+name, port, s.hostKey+".pub")
	if err != nil {
		return nil, err
	}
	p, err := ps.start("sshd-"+name, nil, s.sshd, "-D", "-e", "-f", conf)
	if err != nil {
		return nil, err
	}
	p.tree = true
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitListening(p, addr); err != nil {
		return nil, err
	}
	return &sshdInst{p: p, port: port, knownHosts: kh}, nil
}

// writeKnownHosts pins the host key of a server on 127.0.0.1:port in a
// known_hosts file of its own.
func writeKnownHosts(dir, name string, port int, hostPub string) (string, error) {
	pub, err := os.ReadFile(hostPub)
	if err != nil {
		return "", fmt.Errorf("read host key: %w", err)
	}
	fields := strings.Fields(string(pub))
	if len(fields) < 2 {
		return "", fmt.Errorf("host key %s: malformed", hostPub)
	}
	path := filepath.Join(dir, "known_hosts-"+name)
	line := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("write known_hosts: %w", err)
	}
	return path, nil
}

// sshTarget is what an ssh client needs to reach one server.
type sshTarget struct {
	port             int
	user, knownHosts string
}

// sshForwardArgs is `ssh -N -L` with no config files, no agent, the host
// key pinned and only the given key offered.
func sshForwardArgs(t tools, to sshTarget, key string, lport int, target string) []string {
	return []string{t.ssh, "-F", "none", "-N",
		"-i", key,
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + to.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UpdateHostKeys=no",
		"-o", "ExitOnForwardFailure=yes",
		"-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(to.port),
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", lport, target),
		to.user + "@127.0.0.1",
	}
}
