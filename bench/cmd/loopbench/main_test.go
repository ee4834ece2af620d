package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "MiB", in: "512MiB", want: 512 << 20},
		{name: "GiB", in: "2GiB", want: 2 << 30},
		{name: "KiB", in: "4KiB", want: 4 << 10},
		{name: "bytes", in: "1000", want: 1000},
		{name: "MB is not a unit", in: "5MB", wantErr: true},
		{name: "negative", in: "-1MiB", wantErr: true},
		{name: "overflow", in: "9999999999999GiB", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v, want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseCounts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr bool
	}{
		{name: "two", in: "1000,10000", want: []int{1000, 10000}},
		{name: "spaces", in: "1, 2", want: []int{1, 2}},
		{name: "none", in: "none", want: nil},
		{name: "zero", in: "0", wantErr: true},
		{name: "too many", in: "100001", wantErr: true},
		{name: "word", in: "many", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCounts(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v, want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	bins := []string{"--gateway", "g", "--client", "c"}
	tests := []struct {
		name    string
		args    []string
		check   func(options) bool
		wantErr bool
	}{
		{name: "defaults", args: bins, check: func(o options) bool {
			return o.repeat == 3 && o.bulk == 512<<20 && slices.Equal(o.idle, []int{1000, 10000}) && o.duration == 5*time.Second
		}},
		{name: "quick", args: append([]string{"--quick"}, bins...), check: func(o options) bool {
			return o.repeat == 1 && o.bulk == 64<<20 && slices.Equal(o.idle, []int{1000}) && o.newconn == 3
		}},
		{name: "quick keeps explicit flags", args: append([]string{"--quick", "--repeat", "2", "--idle", "none"}, bins...),
			check: func(o options) bool { return o.repeat == 2 && o.idle == nil && o.bulk == 64<<20 }},
		{name: "json", args: append([]string{"--json", "out.json"}, bins...), check: func(o options) bool { return o.jsonPath == "out.json" }},
		{name: "binaries required", args: nil, wantErr: true},
		{name: "bad repeat", args: append([]string{"--repeat", "0"}, bins...), wantErr: true},
		{name: "tiny bulk", args: append([]string{"--bulk", "1KiB"}, bins...), wantErr: true},
		{name: "idle move default", args: bins, check: func(o options) bool { return o.idleMove == 0 }},
		{name: "idle move", args: append([]string{"--idle-move", "1MiB"}, bins...), check: func(o options) bool { return o.idleMove == 1<<20 }},
		{name: "idle move in KiB", args: append([]string{"--idle-move", "104KiB"}, bins...), check: func(o options) bool { return o.idleMove == 104<<10 }},
		{name: "idle move zero", args: append([]string{"--idle-move", "0"}, bins...), wantErr: true},
		{name: "idle move part KiB", args: append([]string{"--idle-move", "1500"}, bins...), wantErr: true},
		{name: "idle move too big", args: append([]string{"--idle-move", "32MiB"}, bins...), wantErr: true},
		{name: "idle move word", args: append([]string{"--idle-move", "lots"}, bins...), wantErr: true},
		{name: "stray argument", args: append(bins, "extra"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(o) {
				t.Errorf("got %+v, want otherwise", o)
			}
		})
	}
}
