package proxy_test

import (
	"context"
	"log"
	"net"

	"github.com/loopgate/loopgate/proxy"
)

// A proxy on 127.0.0.1:18081 that injects a bearer token read from a
// private file into every request for the nanomq service. Dial would open
// a channel through the SSH tunnel; here it is a plain TCP dial.
func ExampleNew() {
	cred, err := proxy.BearerFromFile("/home/alice/.config/loopgate/nanomq.token")
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:18081")
	if err != nil {
		log.Fatal(err)
	}
	h, err := proxy.New(proxy.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", "127.0.0.1:8081")
		},
		Credential: cred,
		Service:    "nanomq",
	}, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(h.Serve(ln))
}
