package sockio

import (
	"io"
	"net"
	"testing"
)

// BenchmarkRoundTrip: one small message there and back over loopback TCP
// between two goroutines, both ends plain *net.TCPConns or both wrapped.
// One iteration is two writes and two reads.
func BenchmarkRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"plain", func(c net.Conn) net.Conn { return c }},
		{"sockio", Wrap},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, z := tcpPair(b)
			c, s := bc.wrap(a), bc.wrap(z)
			done := make(chan error, 1)
			go func() { // the echo end: ends when c closes
				buf := make([]byte, 64)
				for {
					n, err := s.Read(buf)
					if err != nil {
						done <- nil
						return
					}
					if _, err := s.Write(buf[:n]); err != nil {
						done <- err
						return
					}
				}
			}()
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
