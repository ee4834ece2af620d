package tunnel

import (
	"sync/atomic"
	"time"
)

// A goroutine's stack grows with the deepest call it has made, and the
// runtime shrinks it only by halves, only while less than a quarter is in
// use (with 800 bytes counted for the guard): a copy goroutine that has
// written into an SSH channel (x/crypto's write path, the cipher, the
// socket) keeps 4-8 KiB of stack for as long as it waits, where a fresh
// goroutine waits in the runtime's starting size (2 KiB, unless most
// stacks the last collection saw were deep: the runtime then starts new
// ones at their average). With thousands of idle tunnels that is most of
// their memory after traffic. So each direction of a splice runs as a
// pump, which hands its copy over to a fresh goroutine once it has moved
// data and is waiting again:
//   - copying from a socket that can wait without a buffer (sockio, on
//     Linux), handOverAfter after the first bytes it moved, the moment its
//     read deadline passes (once a second at most on a busy tunnel, and
//     once when a tunnel goes quiet);
//   - copying from anything else (an SSH channel, which has no deadlines),
//     when it goes back to waiting with the small buffer having moved
//     handOverBytes or more since it took over (x/crypto sends a window
//     adjustment from a Read about once per 96 KiB received), or anything
//     if it took over handOverAfter ago or more (a first read and write
//     can take it past 2 KiB too). A tunnel that carried one request in
//     its first second keeps that stack until its next one.
var handOverAfter = time.Second // a variable for tests

const handOverBytes = 64 << 10

// panicGuard recovers a panic in a pump: a gateway connection logs it and
// closes (gwConn.protect), and its tunnel still ends as usual.
type panicGuard interface {
	protect(where string)
}

// pump runs one direction of a splice on goroutines of its own, handing
// the copy over to a fresh one as the comment above says. end is called
// once, with the bytes written, on the goroutine that finishes the copy.
type pump struct {
	copier
	guard panicGuard // or nil
	end   func(n int64)
}

func (p *pump) loop() {
	handed := false
	defer func() {
		if !handed { // EOF, an error, or a panic the guard below has recovered
			if p.guard != nil {
				defer p.guard.protect("tunnel")
			}
			p.disarm() // nothing reads the socket after this; leave no deadline set
			p.setTier(0)
			p.end(p.written)
		}
	}()
	if p.guard != nil {
		// On a panic this runs first: the connection is logged and closed
		// before the tunnel's end is.
		defer p.guard.protect("tunnel")
	}
	if over, _ := p.run(); over {
		p.handOver()
		handed = true
		go p.loop() // p is the new goroutine's from here on
	}
}

// splice copies both ways between an SSH channel ch and a TCP connection
// up, with half-close: when one side finishes sending, the other is told
// EOF but may still answer, so no response is cut short. It returns at
// once; done is called with the bytes sent to up and to ch when both
// directions have finished, on the goroutine that finished last. guard, if
// not nil, recovers a panic in either direction.
func splice(ch, up halfCloser, guard panicGuard, done func(in, out int64)) {
	var (
		left    atomic.Int32
		in, out int64 // each set by its pump before left counts it out
	)
	left.Store(2)
	finish := func() {
		if left.Add(-1) == 0 {
			done(in, out)
		}
	}
	toUp := &pump{copier: newCopier(up, ch, channelReadBuf, false), guard: guard}
	toUp.end = func(n int64) { in = n; defer finish(); up.CloseWrite() }
	toCh := &pump{copier: newCopier(ch, up, maxChannelData, true), guard: guard}
	toCh.end = func(n int64) { out = n; defer finish(); ch.CloseWrite() }
	go toUp.loop()
	go toCh.loop()
}
