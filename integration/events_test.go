package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBook collects the gateway's stderr lines, parsing each as JSON.
type logBook struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	events  []map[string]any // nil where a line is not a JSON object
	notify  chan struct{}    // closed and replaced on every change
	closed  bool             // the process has exited
}

func newLogBook() *logBook { return &logBook{notify: make(chan struct{})} }

func (b *logBook) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.add(string(b.partial[:i]))
		b.partial = b.partial[i+1:]
	}
	b.wake()
	return len(p), nil
}

func (b *logBook) add(line string) {
	var ev map[string]any
	if json.Unmarshal([]byte(line), &ev) != nil {
		ev = nil
	}
	b.lines = append(b.lines, line)
	b.events = append(b.events, ev)
}

func (b *logBook) wake() {
	close(b.notify)
	b.notify = make(chan struct{})
}

// close records that no more lines will come.
func (b *logBook) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.partial) > 0 {
		b.add(string(b.partial))
		b.partial = nil
	}
	b.closed = true
	b.wake()
}

// mark is the position after the last line so far.
func (b *logBook) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// find returns the events at or after from named msg ("" for any) that
// match accepts.
func (b *logBook) find(from int, msg string, match func(map[string]any) bool) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var found []map[string]any
	for _, ev := range b.events[min(from, len(b.events)):] {
		if ev != nil && (msg == "" || ev["msg"] == msg) && (match == nil || match(ev)) {
			found = append(found, ev)
		}
	}
	return found
}

// waitEvents waits until n events named msg that match accepts were logged
// at or after from, and returns them; it fails the test if they do not come.
func (b *logBook) waitEvents(t testing.TB, from int, msg string, match func(map[string]any) bool, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	found, err := b.await(from, msg, match, n, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// await is waitEvents returning an error instead of failing the test.
func (b *logBook) await(from int, msg string, match func(map[string]any) bool, n int, timeout time.Duration) ([]map[string]any, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		notify, closed := b.notify, b.closed
		b.mu.Unlock()
		if found := b.find(from, msg, match); len(found) >= n {
			return found, nil
		}
		if closed {
			return nil, fmt.Errorf("gateway exited before logging %d %q event(s)", n, msg)
		}
		select {
		case <-notify:
		case <-timer.C:
			return nil, fmt.Errorf("no %d %q event(s) within %v", n, msg, timeout)
		}
	}
}

func (b *logBook) dump() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// attrIs matches events whose attribute key prints as want.
func attrIs(key string, want any) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		v, ok := ev[key]
		return ok && fmt.Sprint(v) == fmt.Sprint(want)
	}
}

// attrHas matches events whose attribute key contains sub.
func attrHas(key, sub string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		v, ok := ev[key]
		return ok && strings.Contains(fmt.Sprint(v), sub)
	}
}

// allOf matches events that every m matches.
func allOf(ms ...func(map[string]any) bool) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		for _, m := range ms {
			if !m(ev) {
				return false
			}
		}
		return true
	}
}

// number reads a numeric attribute logged as a JSON number or string.
func number(ev map[string]any, key string) (float64, bool) {
	switch v := ev[key].(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}
