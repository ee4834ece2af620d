package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
		{name: "one", in: []float64{7}, want: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("got %v for none, want NaN", got)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name   string
		a, b   float64
		want   float64
		wantOK bool
	}{
		{name: "plain", a: 3, b: 2, want: 1.5, wantOK: true},
		{name: "zero base", a: 3, b: 0},
		{name: "NaN", a: math.NaN(), b: 2},
		{name: "negative", a: -1, b: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ratio(tt.a, tt.b)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %v, %v, want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	vs := []string{"a", "b", "c"}
	tests := []struct {
		name string
		r    int
		want []string
	}{
		{name: "first", r: 0, want: []string{"a", "b", "c"}},
		{name: "second", r: 1, want: []string{"b", "c", "a"}},
		{name: "wraps", r: 4, want: []string{"b", "c", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rotate(vs, tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{name: "large", in: 1234.56, want: "1235"},
		{name: "tens", in: 12.345, want: "12.3"},
		{name: "ones", in: 1.2345, want: "1.23"},
		{name: "small", in: 0.01234, want: "0.012"},
		{name: "integer", in: 3, want: "3"},
		{name: "zero", in: 0, want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatNumber(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func sampleResults() *results {
	r := newResults()
	rate := metric{"rps-c1", "requests, 1 conn", "req/s", true}
	p50 := metric{"p50-c1", "latency p50, 1 conn", "ms", false}
	p99 := metric{"p99-c1", "latency p99, 1 conn", "ms", false}
	for _, v := range []float64{100, 300, 200} {
		r.add(rate, vOpenSSH, v)
		r.add(rate, vForward, v/2)
	}
	r.add(rate, vDirect, 1000)
	r.add(p50, vDirect, 0.1)
	r.add(p50, vForward, 0.4)
	r.add(p50, vOpenSSH, 0.3)
	r.add(p99, vForward, math.NaN()) // dropped
	r.add(p99, vOpenSSH, 1)
	return r
}

func TestRows(t *testing.T) {
	r := sampleResults()
	rows := r.rows()
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rows))
	}
	fwd := rows[0].Values[vForward]
	if fwd.Median != 100 || fwd.VsOpenSSH == nil || *fwd.VsOpenSSH != 0.5 {
		t.Errorf("got %+v, want median 100 and ratio 0.5", fwd)
	}
	if rows[0].Values[vDirect].VsOpenSSH != nil || rows[0].Values[vOpenSSH].VsOpenSSH != nil {
		t.Errorf("got a ratio on a non-loopgate column, want none")
	}
	if _, ok := rows[2].Values[vForward]; ok {
		t.Errorf("got a cell from a NaN sample, want none")
	}
	if rows[0].Better != "higher" || rows[1].Better != "lower" {
		t.Errorf("got better %q and %q, want higher and lower", rows[0].Better, rows[1].Better)
	}
}

func TestAddOverDirect(t *testing.T) {
	r := sampleResults()
	r.addOverDirect(metric{"p50-added-c1", "added", "ms", false}, "p50-c1", "p50-c1")
	var keys []string
	for _, m := range r.order {
		keys = append(keys, m.Key)
	}
	if want := []string{"rps-c1", "p50-c1", "p50-added-c1", "p99-c1"}; !slices.Equal(keys, want) {
		t.Errorf("got order %v, want %v", keys, want)
	}
	got := r.samples["p50-added-c1"]
	if math.Abs(got[vForward][0]-0.3) > 1e-9 || math.Abs(got[vOpenSSH][0]-0.2) > 1e-9 {
		t.Errorf("got %v, want forward 0.3 and OpenSSH 0.2", got)
	}
	if _, ok := got[vDirect]; ok {
		t.Errorf("got a direct cell, want none")
	}
}

func TestWriteTableAndJSON(t *testing.T) {
	r := sampleResults()
	r.note("something to say")
	rep := Report{Variants: allVariants, Rows: r.rows(), Notes: r.notes}
	var buf bytes.Buffer
	if err := writeTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"requests, 1 conn", "100 (0.50x)", "note: something to say", "lg forward"} {
		if !strings.Contains(out, want) {
			t.Errorf("got table without %q:\n%s", want, out)
		}
	}
	path := filepath.Join(t.TempDir(), "out.json")
	if err := writeJSONFile(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("got %v, want valid JSON", err)
	}
	if got := *back.Rows[0].Values[vForward].VsOpenSSH; got != 0.5 {
		t.Errorf("got ratio %v from JSON, want 0.5", got)
	}
}
