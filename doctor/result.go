package doctor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is a check's verdict.
type Status int

const (
	Pass Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	default:
		return "FAIL"
	}
}

// Result is one check's outcome.
type Result struct {
	Check   string // what was checked, e.g. "listens on loopback only"
	Subject string // what it was checked on: a service name or a file
	Status  Status
	Detail  string // what was seen
	Fix     string // what to change; empty for a pass
}

// Failed reports whether any result is a fail.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Write prints rs as a table, one row per check with its fix on the line
// below, then a count of each status.
func Write(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSUBJECT\tDETAIL")
	var n [3]int
	for _, r := range rs {
		n[r.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Status, r.Check, r.Subject, oneLine(r.Detail))
		if r.Status != Pass && r.Fix != "" {
			fmt.Fprintf(tw, "\t\t\tfix: %s\n", oneLine(r.Fix))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed\n", n[Pass], n[Warn], n[Fail])
	return err
}

// oneLine keeps a cell on one line and free of control characters, since
// details quote what a service answered.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
