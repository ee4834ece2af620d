package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procStat holds the fields of /proc/PID/stat the bench reads.
type procStat struct {
	state                        byte // R, S, D, Z, ...
	ppid                         int
	minflt, cminflt              uint64 // page faults without I/O: own, reaped children's
	utime, stime, cutime, cstime uint64
}

var errStatFormat = errors.New("malformed /proc stat line")

// parseStat parses a /proc/PID/stat line. The command name may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errStatFormat
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(0) ppid(1) ... minflt(7) cminflt(8) ...
	// utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return procStat{}, errStatFormat
	}
	s := procStat{state: f[0][0]}
	var err error
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, errStatFormat
	}
	for j, dst := range []*uint64{&s.minflt, &s.cminflt} {
		v, err := strconv.ParseUint(f[7+j], 10, 64)
		if err != nil {
			return procStat{}, errStatFormat
		}
		*dst = v
	}
	for j, dst := range []*uint64{&s.utime, &s.stime, &s.cutime, &s.cstime} {
		// cutime and cstime are signed in the kernel's format; they are
		// never negative in practice, but a "-1" must not panic.
		v, err := strconv.ParseInt(f[11+j], 10, 64)
		if err != nil || v < 0 {
			return procStat{}, errStatFormat
		}
		*dst = uint64(v)
	}
	return s, nil
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	s, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return s, nil
}

// statusField returns a numeric field of /proc/PID/status, e.g. VmRSS (in
// kB) or Threads.
func statusField(pid int, key string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	return parseStatusField(f, key)
}

func parseStatusField(f io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("status field %s: not found", key)
}

// descendants lists the live descendants of root, found through the
// parent PID of every process in /proc.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := make(map[int][]int)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			kids[s.ppid] = append(kids[s.ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 && len(out) < maxTreeSize {
		p := queue[0]
		queue = queue[1:]
		out = append(out, kids[p]...)
		queue = append(queue, kids[p]...)
	}
	return out
}

// side is the processes on one end of a tunnel: a Go program, or an sshd
// listener with its per-connection children.
type side struct {
	pid  int
	tree bool
}

func (s side) pids() []int {
	if !s.tree {
		return []int{s.pid}
	}
	return append([]int{s.pid}, descendants(s.pid)...)
}

// cpu is the CPU seconds the side has used. Children that exited were
// reaped by a process still in the tree, so their time is counted once,
// in its cutime/cstime.
func (s side) cpu() (float64, error) { return s.sum(procCPU) }

// faults is the page faults the side has taken (minor ones: a page mapped
// without I/O, which is what touching fresh memory costs), counted like
// cpu: each live process's own and its reaped children's.
func (s side) faults() (float64, error) { return s.sum(procFaults) }

// sum adds read over the side's processes. A child that exits between
// listing and reading is skipped (its parent counts it once reaped); the
// side's own process must be readable.
func (s side) sum(read func(pid int) (float64, error)) (float64, error) {
	var sum float64
	for i, pid := range s.pids() {
		v, err := read(pid)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		sum += v
	}
	return sum, nil
}

func procFaults(pid int) (float64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return float64(st.minflt + st.cminflt), nil
}

// procCPU is the CPU seconds a process and its reaped children used. The
// process's own time is the sum of its threads' run time from
// /proc/PID/task/TID/schedstat (nanoseconds), where the kernel has it:
// stat's utime+stime come in 10 ms ticks, too coarse for one handshake.
// Reaped children are only in stat's cutime+cstime, in ticks.
func procCPU(pid int) (float64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	own := float64(st.utime+st.stime) / clockTicks
	if ns, err := schedRuntime(pid); err == nil {
		own = float64(ns) / 1e9
	}
	return own + float64(st.cutime+st.cstime)/clockTicks, nil
}

// schedRuntime sums the run time of a process's live threads.
func schedRuntime(pid int) (uint64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			if len(ents) == 1 {
				return 0, err
			}
			continue // a thread that just exited
		}
		ns, err := parseSchedstat(b)
		if err != nil {
			return 0, err
		}
		sum += ns
	}
	return sum, nil
}

// parseSchedstat reads the first field of a schedstat line: time spent on
// the CPU, in nanoseconds.
func parseSchedstat(b []byte) (uint64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errStatFormat
	}
	v, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, errStatFormat
	}
	return v, nil
}

// rssKiB is the resident memory of the side, summed over its processes.
func (s side) rssKiB() (int64, error) {
	var sum int64
	for i, pid := range s.pids() {
		v, err := statusField(pid, "VmRSS")
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		sum += v
	}
	return sum, nil
}
