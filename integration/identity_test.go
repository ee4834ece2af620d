package integration

import (
	"os"
	"testing"
)

// TestIdentityComesFromTheSigningKey is CVE-2024-45337's shape: OpenSSH
// offers alice's public key (the gateway says it would accept it) but cannot
// sign with it, then signs with bob's. The connection must be bob's: the
// tunnel to nanomq, granted only to alice, is denied, and the audit log
// names bob.
func TestIdentityComesFromTheSigningKey(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	bob := newOperator(t, "bob")
	r.d.allow(t, r.alice, "nanomq")
	r.d.allow(t, bob, "other")
	g := r.d.serve(t)

	// alice's public key alone: ssh offers it, then fails to load the private key.
	if err := os.Remove(r.alice.key); err != nil {
		t.Fatal(err)
	}
	offered := *bob
	offered.key = r.alice.key
	lport := freePort(t)
	g.forward(t, &offered, []string{"-o", "IdentityFile=" + bob.key, "-L", r.toNanomq(lport)}, lport)

	ev := g.waitEvent(t, "auth accepted", nil, waitTimeout)
	if ev["name"] != "bob" || ev["fingerprint"] != bob.fingerprint {
		t.Fatalf("auth accepted: got name %v fingerprint %v, want bob %s", ev["name"], ev["fingerprint"], bob.fingerprint)
	}
	expectDenied(t, g, lport, "nanomq", "not granted")
	r.expectUntouched(t)
}
