package limits

import (
	"strings"
	"testing"
	"time"
)

func TestParseStartups(t *testing.T) {
	tests := []struct {
		name, in string
		want     Startups
		wantErr  bool
	}{
		{"openssh default", "10:30:100", Startups{10, 30, 100}, false},
		{"single", "20", Startups{20, 100, 20}, false},
		{"start above full", "50:30:10", Startups{}, true},
		{"rate above 100", "10:101:100", Startups{}, true},
		{"two parts", "10:30", Startups{}, true},
		{"zero", "0", Startups{}, true},
		{"negative", "-1:30:100", Startups{}, true},
		{"junk", "ten", Startups{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStartups(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseStartups(%q): got %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseRateAndDuration(t *testing.T) {
	if r, err := ParseRate("60/1m"); err != nil || r != (Rate{60, time.Minute}) {
		t.Fatalf("ParseRate(60/1m): got %v, %v", r, err)
	}
	if r, err := ParseRate("none"); err != nil || r.Count != Off {
		t.Fatalf("ParseRate(none): got %v, %v", r, err)
	}
	for _, bad := range []string{"", "60", "0/1m", "60/0", "60/-1s", "x/1m", "60/48h"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q): got nil error, want one", bad)
		}
	}
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "2m": 2 * time.Minute, "none": Off, "0": Off} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5s", "25h", "99999999999", "1.5"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q): got nil error, want one", bad)
		}
	}
}

func TestParsePenalties(t *testing.T) {
	p, err := ParsePenalties(strings.Fields("authfail:10s min:20 max-sources4:1000"))
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthFail != 10*time.Second || p.Min != 20*time.Second || p.MaxSources4 != 1000 || p.NoAuth != time.Second {
		t.Fatalf("got %+v, want authfail 10s, min 20s, max-sources4 1000, other defaults", p)
	}
	if p, err := ParsePenalties([]string{"no"}); err != nil || !p.Off {
		t.Fatalf("no: got %+v, %v; want Off", p, err)
	}
	for _, bad := range []string{"authfail", "authfail:x", "bogus:1", "min:20m", "authfail:1 authfail:2", "max-sources6:0"} {
		if _, err := ParsePenalties(strings.Fields(bad)); err == nil {
			t.Errorf("ParsePenalties(%q): got nil error, want one", bad)
		}
	}
}

func TestParseNetBlock(t *testing.T) {
	if nb, err := ParseNetBlock("24:64"); err != nil || nb != (NetBlock{24, 64}) {
		t.Fatalf("24:64: got %v, %v", nb, err)
	}
	for _, bad := range []string{"0", "33", "32:129", "a:b", ""} {
		if _, err := ParseNetBlock(bad); err == nil {
			t.Errorf("ParseNetBlock(%q): got nil error, want one", bad)
		}
	}
}

func FuzzParseLimits(f *testing.F) {
	for _, s := range []string{"10:30:100", "60/1m", "authfail:5s max:10m", "32:128", "none", "30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if st, err := ParseStartups(s); err == nil && (st.Start < 1 || st.Start > st.Full || st.Rate > 100) {
			t.Fatalf("ParseStartups(%q) accepted %+v", s, st)
		}
		if r, err := ParseRate(s); err == nil && r.Count != Off && (r.Count < 1 || r.Per <= 0) {
			t.Fatalf("ParseRate(%q) accepted %+v", s, r)
		}
		if d, err := ParseDuration(s); err == nil && d != Off && (d <= 0 || d > maxDuration) {
			t.Fatalf("ParseDuration(%q) accepted %v", s, d)
		}
		if p, err := ParsePenalties(strings.Fields(s)); err == nil && !p.Off && p.Min > p.Max {
			t.Fatalf("ParsePenalties(%q) accepted min > max", s)
		}
		ParseNetBlock(s)
	})
}
