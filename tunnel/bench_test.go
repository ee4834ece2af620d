package tunnel

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
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
		spliceWait(srcR, dstW)
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

// BenchmarkBatchConn writes a full AES-GCM packet as x/crypto's 4 KiB
// bufio.Writer hands it over (4 KiB, then the rest) through batchConn to
// a loopback socket, from one goroutine and from eight at once (a mutex
// stands for x/crypto's, which serializes packets); syscalls/op is write
// system calls per packet (2 without batchConn).
func BenchmarkBatchConn(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			addr := sinkServer(b, false)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			counted := &countingConn{Conn: raw}
			c := newBatchConn(counted)
			defer c.Close()
			head, rest := make([]byte, 4096), make([]byte, 32<<10+36-4096)
			var order sync.Mutex
			packet := func() error {
				order.Lock()
				defer order.Unlock()
				if _, err := c.Write(head); err != nil {
					return err
				}
				_, err := c.Write(rest)
				return err
			}
			b.SetBytes(int64(len(head) + len(rest)))
			b.ReportAllocs()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := packet(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			waitFlushed(b, c)
			b.ReportMetric(float64(counted.writes.Load())/float64(b.N), "syscalls/op")
		})
	}
}

type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
