package main

import (
	"context"
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
	want := wrkResult{requests: 1000, elapsed: 2 * time.Second, p50: 1200 * time.Microsecond,
		p99: 4100 * time.Microsecond, p999: 40500 * time.Microsecond}
	if r != want || r.rate() != 500 {
		t.Errorf("got %+v (rate %v), want %+v (rate 500)", r, r.rate(), want)
	}
	r, err = parseWrk(strings.Replace(good, "status=0 timeout=0", "status=3 timeout=2", 1))
	if err != nil || r.errors != 5 {
		t.Errorf("got %d errors (%v), want 5", r.errors, err)
	}

	for name, out := range map[string]string{
		"no line":      "Running 5s test\n",
		"missing key":  strings.Replace(good, " p999_us=40500", "", 1),
		"not a number": strings.Replace(good, "p99_us=4100", "p99_us=4.1", 1),
		"negative":     strings.Replace(good, "p50_us=1200", "p50_us=-1", 1),
		"no equals":    strings.Replace(good, "read=0", "read", 1),
		"no requests":  strings.Replace(good, "requests=1000", "requests=0", 1),
		"no time":      strings.Replace(good, "duration_us=2000000", "duration_us=0", 1),
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
	if b.wrkScript != "" || len(b.res.notes) != 1 || !strings.Contains(b.res.notes[0], "wrk not found") {
		t.Fatalf("script %q, notes %q: want none and a note that wrk was not found", b.wrkScript, b.res.notes)
	}
	b.wrkLoad(context.Background(), 0) // would fail on the missing endpoints if it ran
	if len(b.res.order) != 0 || b.failed != 0 {
		t.Errorf("rows %v, %d failed: want none", b.res.order, b.failed)
	}
}
