package limits

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDuration bounds every configured duration.
const maxDuration = 24 * time.Hour

// ParseDuration parses a limit's duration: a Go duration ("30s", "2m") or a
// whole number of seconds as sshd takes it ("30"). "none" and "0" turn the
// limit off (Off).
func ParseDuration(s string) (time.Duration, error) {
	if s == "none" || s == "0" {
		return Off, nil
	}
	return parsePositiveDuration(s)
}

func parsePositiveDuration(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		d = time.Duration(n) * time.Second
		if n > int(maxDuration/time.Second) {
			d = maxDuration + 1
		}
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, or seconds)", s)
	}
	if d <= 0 || d > maxDuration {
		return 0, fmt.Errorf("duration %q out of range (0, %s]", s, maxDuration)
	}
	return d, nil
}

// ParseCount parses a positive count up to max; "none" turns the limit off.
func ParseCount(s string, maxN int) (int, error) {
	if s == "none" {
		return Off, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxN {
		return 0, fmt.Errorf("invalid count %q (want 1 to %d, or none)", s, maxN)
	}
	return n, nil
}

// ParseStartups parses MaxStartups "start:rate:full" or "full".
func ParseStartups(s string) (Startups, error) {
	parts := strings.Split(s, ":")
	var n []int
	for _, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 || v > 1_000_000 {
			return Startups{}, fmt.Errorf("invalid MaxStartups %q (want start:rate:full, e.g. 10:30:100)", s)
		}
		n = append(n, v)
	}
	switch {
	case len(n) == 1:
		return Startups{Start: n[0], Rate: 100, Full: n[0]}, nil
	case len(n) != 3:
		return Startups{}, fmt.Errorf("invalid MaxStartups %q (want start:rate:full, e.g. 10:30:100)", s)
	case n[1] > 100 || n[0] > n[2]:
		return Startups{}, fmt.Errorf("invalid MaxStartups %q: rate is a percentage and start may not exceed full", s)
	}
	return Startups{Start: n[0], Rate: n[1], Full: n[2]}, nil
}

// ParseRate parses "COUNT/DURATION", e.g. "60/1m"; "none" turns it off.
func ParseRate(s string) (Rate, error) {
	if s == "none" {
		return Rate{Count: Off, Per: Off}, nil
	}
	c, p, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 1 || n > 1_000_000 {
		return Rate{}, fmt.Errorf("invalid rate %q (want COUNT/DURATION, e.g. 60/1m, or none)", s)
	}
	d, err := parsePositiveDuration(p)
	if err != nil {
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, err)
	}
	return Rate{Count: n, Per: d}, nil
}

// ParseNetBlock parses PerSourceNetBlockSize "V4[:V6]".
func ParseNetBlock(s string) (NetBlock, error) {
	v4s, v6s, has6 := strings.Cut(s, ":")
	v4, err := strconv.Atoi(v4s)
	if err != nil || v4 < 1 || v4 > 32 {
		return NetBlock{}, fmt.Errorf("invalid PerSourceNetBlockSize %q (want 1-32[:1-128], e.g. 32:128)", s)
	}
	v6 := 128
	if has6 {
		if v6, err = strconv.Atoi(v6s); err != nil || v6 < 1 || v6 > 128 {
			return NetBlock{}, fmt.Errorf("invalid PerSourceNetBlockSize %q (want 1-32[:1-128], e.g. 32:128)", s)
		}
	}
	return NetBlock{V4: v4, V6: v6}, nil
}

// ParsePenalties parses PerSourcePenalties as sshd does: "no", or
// keyword:value pairs (authfail, noauth, grace-exceeded, crash, max, min:
// durations; max-sources4, max-sources6: counts) applied over the defaults.
func ParsePenalties(args []string) (Penalties, error) {
	p := Defaults().PerSourcePenalties
	if len(args) == 1 && (args[0] == "no" || args[0] == "none") {
		return Penalties{Off: true}, nil
	}
	if len(args) == 0 {
		return Penalties{}, errors.New("want no, or keyword:value pairs")
	}
	seen := map[string]bool{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, ":")
		if !ok || seen[k] {
			return Penalties{}, fmt.Errorf("%q: want keyword:value, each keyword once", a)
		}
		seen[k] = true
		if err := p.set(k, v); err != nil {
			return Penalties{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	if p.Min > p.Max {
		return Penalties{}, fmt.Errorf("min %s exceeds max %s", p.Min, p.Max)
	}
	return p, nil
}

func (p *Penalties) set(k, v string) error {
	durs := map[string]*time.Duration{
		"authfail": &p.AuthFail, "noauth": &p.NoAuth, "grace-exceeded": &p.GraceExceeded,
		"crash": &p.Crash, "max": &p.Max, "min": &p.Min,
	}
	if d, ok := durs[k]; ok {
		if v == "0" {
			*d = 0
			return nil
		}
		var err error
		*d, err = parsePositiveDuration(v)
		return err
	}
	counts := map[string]*int{"max-sources4": &p.MaxSources4, "max-sources6": &p.MaxSources6}
	if c, ok := counts[k]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<20 {
			return fmt.Errorf("invalid count %q (want 1 to %d)", v, 1<<20)
		}
		*c = n
		return nil
	}
	return errors.New("unknown keyword (want authfail, noauth, grace-exceeded, crash, max, min, max-sources4, max-sources6)")
}
