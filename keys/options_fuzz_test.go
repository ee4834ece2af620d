package keys

import (
	"strings"
	"testing"
)

// FuzzParseOptions checks that whatever ParseOptions accepts is written back
// by Options.String as a field that parses to the same options, that the
// written form is stable, and that the field means the same on an
// authorized_keys line.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"",
		"restrict",
		"RESTRICT,Port-Forwarding",
		"port-forwarding,restrict",
		"no-port-forwarding,port-forwarding,no-port-forwarding",
		"no-pty,pty,no-agent-forwarding,agent-forwarding,no-x11-forwarding,x11-forwarding,no-user-rc,user-rc",
		`from="127.0.0.1,!10.0.0.1,*.example.com,192.168.?.*,2001:db8::/32"`,
		`expiry-time="20300102030405Z",expiry-time="20310101"`,
		`expiry-time="203001020304"`,
		`expiry-time="20300102utc"`,
		`permitopen="[::1]:8081",permitopen="*:*",permitopen="nanomq:65535"`,
		`restrict,port-forwarding,from="10.1.2.3",expiry-time="20300101Z",permitopen="127.0.0.1:8081",verify-required,no-touch-required`,
		`from="a\"b"`,
		`from="a\\"`,
		`command="a,b",restrict`,
		`from="a`,
		",restrict",
		"restrict,",
		"restrict,,pty",
		`restrict="yes"`,
		"from",
		"restrict pty",
		"\x00,\n",
	} {
		f.Add(s)
	}
	line := " " + keyText(testKey(f, 1)) + " alice\n"
	f.Fuzz(func(t *testing.T, field string) {
		o, err := ParseOptions(field)
		if err != nil {
			return
		}
		again, err := ParseOptions(field)
		if err != nil || !optionsEqual(again, o) {
			t.Fatalf("second parse of %q: got %+v, %v; want %+v", field, again, err, o)
		}
		out := o.String()
		if strings.ContainsAny(out, " \t\r\n") {
			t.Fatalf("String() of %q: got %q, want no blanks or line breaks", field, out)
		}
		back, err := ParseOptions(out)
		if err != nil {
			t.Fatalf("String() of %q gave %q, which does not parse: %v", field, out, err)
		}
		if !optionsEqual(back, o) || back.ForwardingDisabled() != o.ForwardingDisabled() {
			t.Fatalf("options of %q written as %q: got %+v back, want %+v", field, out, back, o)
		}
		if again := back.String(); again != out {
			t.Fatalf("String() not stable for %q: got %q, want %q", field, again, out)
		}
		checkOptionsOnLine(t, field, o, line)
	})
}

// checkOptionsOnLine requires an accepted options field to mean the same at
// the start of an authorized_keys line, as ParseOptions promises.
func checkOptionsOnLine(t *testing.T, field string, want Options, line string) {
	t.Helper()
	if field == "" {
		return
	}
	if strings.ContainsAny(field, " \t\r\n") {
		t.Fatalf("ParseOptions accepted %q, which has blanks or line breaks", field)
	}
	got, err := ParseAuthorizedKeys([]byte(field+line), "f")
	if err != nil {
		t.Fatalf("ParseOptions accepted %q, but on a line: %v", field, err)
	}
	if len(got) != 1 || !optionsEqual(got[0].Options, want) {
		t.Fatalf("options %q on a line: got %+v, want %+v", field, got, want)
	}
}
