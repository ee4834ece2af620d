// Package integration holds end-to-end tests of the built programs.
//
// TestMain builds the real gateway and client binaries once; each test gives
// the gateway its own
// directory (made with `gateway init` and `gateway allow`), runs
// `gateway serve` on 127.0.0.1:0 with JSON logs, and drives it with the
// stock OpenSSH client and curl against a local HTTP upstream. A few tests
// use golang.org/x/crypto/ssh as the client to send what OpenSSH cannot be
// made to send. Assertions are on real outcomes: exit codes, bytes that came
// back through the tunnel, connections the upstream saw, and the gateway's
// audit events.
//
// Files: main_test.go builds the binary; harness_test.go runs commands,
// operators' keys and the gateway; http_test.go holds the upstream server
// and curl helpers; events_test.go collects and matches log events;
// gateway_test.go drives the gateway with OpenSSH; goclient_test.go with
// golang.org/x/crypto/ssh; identity_test.go checks identity comes from the
// key that signed (CVE-2024-45337). client_harness_test.go and
// client_test.go drive the client against the gateway; sshd_test.go runs it
// against a stock sshd restricted with permitopen=, and jump_test.go through
// a stock sshd ProxyJump host. token_harness_test.go and token_test.go cover
// gateway-minted tokens against the in-process NanoMQ stand-in
// (internal/standin), with openssl as an independent verifier.
// adversarial_test.go is the attack suite (TestAdversarial: one named
// subtest per attack, each asserting the refusal, its audit event and, where
// it is about availability, that a legitimate client is still served);
// adversarial_harness_test.go holds its helpers; adversarial_limits_test.go
// (TestAdversarialLimits) attacks the limits the same way: floods, rate,
// penalties, channel floods, timeouts, keepalives, live revocation, weak
// algorithms. audit_test.go runs
// Debian's ssh-audit against the gateway with the policy in audit/ (it must
// pass) and against a deliberately weakened config (it must fail).
//
// Set INTEGRATION_LOG=1 to print every gateway's log, not only on failure.
//
// The tests skip when ssh, sshd, ssh-keygen, ssh-agent, curl, openssl or ssh-audit is
// missing, except when CI=true,
// where a missing tool is a failure. Some checks (child processes, source
// addresses 127.0.0.2 and 127.0.0.3) rely on Linux.
package integration
