package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/loopgate/loopgate/internal/sockio"
)

// Forward serves one local listener, like ssh -L: every connection it
// accepts becomes a direct-tcpip channel to Host:Port on the gateway.
type Forward struct {
	// Listener is where local programs connect. Required.
	Listener net.Listener
	// Host and Port are what the gateway is asked for: a service name or
	// a loopback address, and the service's port.
	Host string
	Port int
	// Client carries the channels. Required.
	Client *Client
	// Logger receives a line per failure and, at debug level, per connection.
	Logger *slog.Logger
}

// Serve accepts until ctx is done or the listener fails, then closes the
// listener and waits for open connections to finish.
func (f *Forward) Serve(ctx context.Context) error {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("listen", f.Listener.Addr().String(), "target", net.JoinHostPort(f.Host, strconv.Itoa(f.Port)))
	stop := context.AfterFunc(ctx, func() { f.Listener.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		local, err := f.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		local = sockio.Wrap(local) // reads and writes without the scheduler's system-call bookkeeping
		wg.Add(1)
		go f.handle(ctx, local, log, sync.OnceFunc(wg.Done))
	}
}

// handle opens the channel for one local connection and starts the
// splice; done (which does its work once however often it is called) is
// called when the connection is over: here if the channel never opens,
// else by the splice, once both directions are done, so that this
// goroutine, whose stack the set-up grew, need not wait for it.
func (f *Forward) handle(ctx context.Context, local net.Conn, log *slog.Logger, done func()) {
	spliced := false
	defer func() {
		if !spliced {
			local.Close()
			done()
		}
	}()
	start := time.Now()
	remote, err := f.Client.DialService(ctx, f.Host, f.Port)
	if err != nil {
		log.Warn("forward failed", "error", err.Error())
		return
	}
	lc, ok := local.(halfCloser)
	rc, ok2 := remote.(halfCloser)
	if !ok || !ok2 {
		remote.Close()
		log.Error("forward: connection cannot half-close")
		return
	}
	closeBoth := func() { local.Close(); remote.Close() } // the local socket first: closing the channel may wait on the gateway
	stop := context.AfterFunc(ctx, closeBoth)
	splice(rc, lc, nil, func(in, out int64) {
		defer done()
		stop()
		closeBoth()
		log.Debug("forward closed", "bytes_out", out, "bytes_in", in, "duration", time.Since(start).Round(time.Millisecond).String())
	})
	spliced = true
}
