package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "plain",
			line: "42 (sshd) S 7 42 42 0 -1 4194560 100 5 0 0 12 34 56 78 20 0 1 0 100 1000 200",
			want: procStat{state: 'S', ppid: 7, minflt: 100, cminflt: 5, utime: 12, stime: 34, cutime: 56, cstime: 78},
		},
		{
			name: "name with spaces and parentheses",
			line: "9 (a (b) c) R 1 9 9 0 -1 0 0 0 0 0 1 2 3 4 20 0",
			want: procStat{state: 'R', ppid: 1, utime: 1, stime: 2, cutime: 3, cstime: 4},
		},
		{name: "no parenthesis", line: "9 sshd R 1 9 9 0 -1 0 0 0 0 0 1 2 3 4", wantErr: true},
		{name: "truncated", line: "9 (x) R 1 9 9 0 -1 0 0 0 0 0 1 2", wantErr: true},
		{name: "negative child time", line: "9 (x) R 1 9 9 0 -1 0 0 0 0 0 1 2 -1 4", wantErr: true},
		{name: "negative fault count", line: "9 (x) R 1 9 9 0 -1 0 -1 0 0 0 1 2 3 4", wantErr: true},
		{name: "not a number", line: "9 (x) R one 9 9 0 -1 0 0 0 0 0 1 2 3 4", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{name: "three fields", in: "4668992 357885 2\n", want: 4668992},
		{name: "empty", in: "", wantErr: true},
		{name: "not a number", in: "x 1 2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSchedstat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v, want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatusField(t *testing.T) {
	status := "Name:\tgateway\nVmRSS:\t    8860 kB\nThreads:\t7\n"
	tests := []struct {
		name    string
		key     string
		want    int64
		wantErr bool
	}{
		{name: "rss in kB", key: "VmRSS", want: 8860},
		{name: "threads", key: "Threads", want: 7},
		{name: "missing", key: "VmSwap", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusField(strings.NewReader(status), tt.key)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v, want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOwnProcess(t *testing.T) {
	s := side{pid: os.Getpid()}
	cpu, err := s.cpu()
	if err != nil || cpu <= 0 {
		t.Errorf("got cpu %v, %v, want > 0", cpu, err)
	}
	rss, err := s.rssKiB()
	if err != nil || rss <= 0 {
		t.Errorf("got rss %v, %v, want > 0", rss, err)
	}

	// Touching 256 fresh pages takes 256 page faults or more.
	before, err := s.faults()
	if err != nil {
		t.Fatal(err)
	}
	const pages = 256
	mem, err := syscall.Mmap(-1, 0, pages*os.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	for i := 0; i < len(mem); i += os.Getpagesize() {
		mem[i] = 1
	}
	after, err := s.faults()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < pages {
		t.Errorf("page faults rose by %v after touching %d fresh pages, want at least %d", after-before, pages, pages)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (sshd) S 7 42 42 0 -1 4194560 100 0 0 0 12 34 56 78 20 0 1 0 100 1000 200"))
	f.Add([]byte("9 (a) b) R 1"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err != nil && s != (procStat{}) {
			t.Errorf("got %+v with error %v, want the zero value", s, err)
		}
	})
}
