package tunnel

import (
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
)

// sinkServer accepts connections and reads them to EOF, for bulk
// benchmarks; closeOnAccept closes each connection at once instead.
func sinkServer(tb testing.TB, closeOnAccept bool) string {
	tb.Helper()
	addr, _ := tcpServer(tb, func(c net.Conn) {
		if !closeOnAccept {
			io.Copy(io.Discard, c)
		}
	})
	return addr
}

// benchGateway starts a gateway with one service at addr granted to a
// fresh key, with limits that do not get in a benchmark's way, and
// returns a logged-in client.
func benchGateway(b *testing.B, addr string) *ssh.Client {
	b.Helper()
	alice := newSigner(b)
	tg := startGateway(b, map[string]string{"svc": addr}, map[string][]string{"alice": {"svc"}},
		[]keys.AuthorizedKey{entry(alice, "alice", keys.Options{})},
		func(c *GatewayConfig) {
			c.Logger = nil
			c.Limits.MaxSessions = 100000
		})
	return tg.mustDial(b, alice)
}

// BenchmarkTunnelBulk moves 32 KiB writes through one tunnel: the
// gateway's copy loop plus x/crypto's packet path on both ends.
func BenchmarkTunnelBulk(b *testing.B) {
	addr := sinkServer(b, false)
	c := benchGateway(b, addr)
	conn, err := c.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChannelOpen opens and closes one tunnel: parse, policy, dial,
// accept, splice set-up and tear-down.
func BenchmarkChannelOpen(b *testing.B) {
	addr := sinkServer(b, true)
	c := benchGateway(b, addr)
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		conn, err := c.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conn.Read(buf) // EOF once the service has closed
		conn.Close()
	}
}

// BenchmarkSplice is the copy loop alone, between two loopback TCP pairs.
func BenchmarkSplice(b *testing.B) {
	srcW, srcR := tcpPair(b)
	dstW, dstR := tcpPair(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		splice(srcR, dstW)
	}()
	go io.Copy(io.Discard, dstR)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srcW.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	srcW.Close()
	dstR.Close()
	<-done
}
