package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	good := "Running 5s test @ http://127.0.0.1:1/json\n  2 threads and 32 connections\n" +
		"loopbench-wrk requests=1000 duration_us=2000000 p50_us=1200 p99_us=4100 p999_us=40500 " +
		"connect=0 read=0 write=0 status=0 timeout=0\n"
	r, err := parseWrk(good)
	if err != nil {
		t.Fatalf("parseWrk: %v", err)
	}
	want := loadResult{requests: 1000, elapsed: 2 * time.Second, p50: 1200 * time.Microsecond,
		p99: 4100 * time.Microsecond, p999: 40500 * time.Microsecond}
	if r != want || r.rate() != 500 {
		t.Errorf("got %+v (rate %v), want %+v (rate 500)", r, r.rate(), want)
	}
	r, err = parseWrk(strings.Replace(good, "status=0 timeout=0", "status=3 timeout=2", 1))
	if err != nil || r.err == nil || !strings.Contains(r.err.Error(), "5 of 1000 requests failed") {
		t.Errorf("got %v (%v), want 5 of 1000 requests failed", r.err, err)
	}

	for name, out := range map[string]string{
		"no line":      "Running 5s test\n",
		"missing key":  strings.Replace(good, " p999_us=40500", "", 1),
		"not a number": strings.Replace(good, "p99_us=4100", "p99_us=4.1", 1),
		"negative":     strings.Replace(good, "p50_us=1200", "p50_us=-1", 1),
		"no equals":    strings.Replace(good, "read=0", "read", 1),
		"no requests":  strings.Replace(good, "requests=1000", "requests=0", 1),
		"no time":      strings.Replace(good, "duration_us=2000000", "duration_us=0", 1),
		"too large":    strings.Replace(good, "duration_us=2000000", "duration_us=2147483648", 1),
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

// Without wrk the run goes on with a note, and the wrk rows are left out.
func TestNoWrk(t *testing.T) {
	b := &bench{res: newResults(), dir: t.TempDir(), eps: map[string]*endpoint{}}
	if err := b.setupWrk(); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat(b.wrkScriptPath())
	if !errors.Is(err, fs.ErrNotExist) || len(b.res.notes) != 1 || !strings.Contains(b.res.notes[0], "wrk not found") {
		t.Fatalf("script: %v, notes %q: want none and a note that wrk was not found", err, b.res.notes)
	}
	b.wrkLoad(context.Background(), 0) // would fail on the missing endpoints if it ran
	if len(b.res.order) != 0 || b.failed != 0 {
		t.Errorf("rows %v, %d failed: want none", b.res.order, b.failed)
	}
}

// The rows of wrk's load are apart from the bench's own generator's.
func TestAddLoadRows(t *testing.T) {
	b := &bench{res: newResults(), log: io.Discard}
	b.addLoad("", vForward, 32, loadResult{requests: 100, elapsed: time.Second,
		p50: time.Millisecond, p99: 2 * time.Millisecond, p999: 3 * time.Millisecond})
	b.addLoad("wrk", vForward, 32, loadResult{requests: 400, elapsed: 2 * time.Second,
		p50: 4 * time.Millisecond, p99: 5 * time.Millisecond, p999: 6 * time.Millisecond})
	want := map[string]float64{"rps-c32": 100, "p50-c32": 1, "p99-c32": 2, "p999-c32": 3,
		"wrk-rps-c32": 200, "wrk-p50-c32": 4, "wrk-p99-c32": 5, "wrk-p999-c32": 6}
	for _, m := range b.res.order {
		x, ok := want[m.Key]
		if got := b.res.samples[m.Key][vForward]; !ok || len(got) != 1 || got[0] != x {
			t.Errorf("%s (%s): %v, want [%v] (expected row %t)", m.Key, m.Label, got, x, ok)
		}
		if strings.HasPrefix(m.Key, "wrk-") != strings.HasPrefix(m.Label, "wrk ") {
			t.Errorf("%s: label %q", m.Key, m.Label)
		}
		delete(want, m.Key)
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v", want)
	}
}

// parseWrk reads what a child process printed: any bytes give a result or
// an error, never a panic, and a result has a positive count and time.
func FuzzParseWrk(f *testing.F) {
	f.Add("loopbench-wrk requests=1000 duration_us=2000000 p50_us=1200 p99_us=4100 p999_us=40500 " +
		"connect=0 read=0 write=0 status=0 timeout=0\n")
	f.Add("Running 1s test\nloopbench-wrk requests=9223372036854775807 duration_us=1\n")
	f.Add("loopbench-wrk requests=1 requests=x\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err == nil && (r.requests <= 0 || r.elapsed <= 0) {
			t.Errorf("parseWrk(%q) = %+v with no error", out, r)
		}
	})
}
