// Command loopbench measures loopgate beside OpenSSH on one machine, in one
// run: bulk transfers, request rate and latency, new connection + first
// request, and the memory and goroutines each idle forwarded connection
// costs. Every variant carries the same HTTP traffic to the same loopback
// upstream:
//
//   - direct: the upstream itself, the floor;
//   - openssh: `ssh -N -L` to a private sshd;
//   - loopgate forward: `client forward` to `gateway serve`;
//   - loopgate proxy: `client proxy`, injecting a gateway-minted token;
//   - ssh to gateway: stock `ssh -N -L` to `gateway serve`.
//
// Variants are interleaved within each repeat and the table shows medians,
// with every loopgate figure also as a ratio to OpenSSH's from the same run.
// All processes listen and connect on 127.0.0.1 only, and every process the
// tool starts is stopped by its PID when it ends, also on error or SIGINT.
//
// It is meant to be started by bench/run, which builds the programs first;
// bench/README.md explains the rows.
package main
