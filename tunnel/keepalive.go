package tunnel

import (
	"context"
	"time"

	"golang.org/x/crypto/ssh"
)

// keepAlive sends keepalive@openssh.com on conn every interval and returns
// true once countMax probes in a row have gone unanswered; any reply, even
// OpenSSH's "failure", counts as an answer. It returns false when ctx is
// done, or at once when interval <= 0 (keepalives off); countMax <= 0
// never gives up. One probe is in flight at a time, sent by a goroutine
// that ends when the reply arrives or conn closes. Both ends use it: the
// client (ServerAlive*) and the gateway (ClientAlive*).
func keepAlive(ctx context.Context, conn ssh.Conn, interval time.Duration, countMax int) bool {
	if interval <= 0 {
		return false
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	answered := make(chan struct{}, 1)
	inflight, missed := false, 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-answered:
			inflight, missed = false, 0
		case <-tick.C:
			if inflight {
				if missed++; countMax > 0 && missed >= countMax {
					return true
				}
				continue
			}
			inflight = true
			go func() {
				if _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					answered <- struct{}{} // never blocks: one probe, one slot
				}
			}()
		}
	}
}
