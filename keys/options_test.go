package keys

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// optionsEqual compares options, expiry times by instant.
func optionsEqual(a, b Options) bool {
	if !a.ExpiryTime.Equal(b.ExpiryTime) {
		return false
	}
	a.ExpiryTime, b.ExpiryTime = time.Time{}, time.Time{}
	if len(a.From) == 0 && len(b.From) == 0 {
		a.From, b.From = nil, nil
	}
	if len(a.PermitOpen) == 0 && len(b.PermitOpen) == 0 {
		a.PermitOpen, b.PermitOpen = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// parseOptionsLine parses "opts key comment" for key seed 1 and returns the
// options.
func parseOptionsLine(tb testing.TB, opts string) (Options, error) {
	tb.Helper()
	line := keyText(testKey(tb, 1)) + " alice"
	if opts != "" {
		line = opts + " " + line
	}
	keys, err := ParseAuthorizedKeys([]byte(line+"\n"), "authorized_keys")
	if err != nil {
		return Options{}, err
	}
	return keys[0].Options, nil
}

func TestOptionsValid(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want Options
	}{
		{name: "none", opts: "", want: Options{}},
		{name: "restrict", opts: "restrict", want: Options{Restrict: true}},
		{name: "upper case", opts: "RESTRICT,Port-Forwarding", want: Options{Restrict: true, PortForwarding: true}},
		{name: "restrict port-forwarding", opts: "restrict,port-forwarding", want: Options{Restrict: true, PortForwarding: true}},
		{name: "port-forwarding then restrict", opts: "port-forwarding,restrict", want: Options{Restrict: true}},
		{name: "no-port-forwarding", opts: "no-port-forwarding", want: Options{NoPortForwarding: true}},
		{name: "no then yes", opts: "no-port-forwarding,port-forwarding", want: Options{PortForwarding: true}},
		{name: "yes then no", opts: "port-forwarding,no-port-forwarding", want: Options{NoPortForwarding: true}},
		{name: "no-touch-required", opts: "no-touch-required", want: Options{NoTouchRequired: true}},
		{name: "verify-required", opts: "verify-required", want: Options{VerifyRequired: true}},
		{name: "ignored flags", opts: "no-pty,pty,no-agent-forwarding,agent-forwarding,no-x11-forwarding,x11-forwarding,no-user-rc,user-rc", want: Options{}},
		{name: "from one", opts: `from="10.0.0.0/8"`, want: Options{From: []string{"10.0.0.0/8"}}},
		{name: "from negated", opts: `from="127.0.0.1,!10.0.0.1"`, want: Options{From: []string{"127.0.0.1", "!10.0.0.1"}}},
		{name: "from wildcards", opts: `from="*.example.com,192.168.?.*,fe80::1,2001:db8::/32"`, want: Options{From: []string{"*.example.com", "192.168.?.*", "fe80::1", "2001:db8::/32"}}},
		{name: "permitopen", opts: `permitopen="127.0.0.1:8081"`, want: Options{PermitOpen: []HostPort{{"127.0.0.1", 8081}}}},
		{name: "permitopen repeated", opts: `permitopen="nanomq:8081",permitopen="localhost:*"`, want: Options{PermitOpen: []HostPort{{"nanomq", 8081}, {"localhost", -1}}}},
		{name: "permitopen ipv6", opts: `permitopen="[::1]:8081"`, want: Options{PermitOpen: []HostPort{{"::1", 8081}}}},
		{name: "permitopen any host", opts: `permitopen="*:443"`, want: Options{PermitOpen: []HostPort{{"*", 443}}}},
		{name: "permitopen port bounds", opts: `permitopen="a:1",permitopen="a:65535"`, want: Options{PermitOpen: []HostPort{{"a", 1}, {"a", 65535}}}},
		{name: "expiry utc", opts: `expiry-time="20300102030405Z"`, want: Options{ExpiryTime: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{name: "everything", opts: `restrict,port-forwarding,from="10.1.2.3",expiry-time="20300101Z",permitopen="127.0.0.1:8081",verify-required,no-touch-required`,
			want: Options{Restrict: true, PortForwarding: true, From: []string{"10.1.2.3"}, ExpiryTime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
				PermitOpen: []HostPort{{"127.0.0.1", 8081}}, VerifyRequired: true, NoTouchRequired: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptionsLine(t, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !optionsEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want string
	}{
		{name: "unknown", opts: "foo", want: `unknown option "foo"`},
		{name: "unknown after good", opts: "restrict,foo", want: `unknown option "foo"`},
		{name: "prefix of known", opts: "restrictx", want: `unknown option "restrictx"`},
		{name: "command", opts: `command="/bin/true"`, want: `unsupported option "command"`},
		{name: "command with comma", opts: `command="a,b",restrict`, want: `unsupported option "command"`},
		{name: "environment", opts: `environment="A=b"`, want: `unsupported option "environment"`},
		{name: "principals", opts: `principals="alice"`, want: `unsupported option "principals"`},
		{name: "cert-authority", opts: "cert-authority", want: `unsupported option "cert-authority"`},
		{name: "tunnel", opts: `tunnel="0"`, want: `unsupported option "tunnel"`},
		{name: "permitlisten", opts: `permitlisten="8080"`, want: `unsupported option "permitlisten"`},
		{name: "touch-required", opts: "touch-required", want: `unknown option "touch-required"`},
		{name: "flag with value", opts: `restrict="yes"`, want: `option "restrict" takes no value`},
		{name: "from without value", opts: "from", want: `option "from" needs a value`},
		{name: "from unquoted", opts: "from=10.0.0.1", want: `option "from": value must be in double quotes`},
		{name: "from twice", opts: `from="a",from="b"`, want: `option "from" given twice`},
		{name: "from empty", opts: `from=""`, want: `invalid from pattern ""`},
		{name: "from empty element", opts: `from="a,,b"`, want: `invalid from pattern ""`},
		{name: "from bare negation", opts: `from="!"`, want: `invalid from pattern "!"`},
		{name: "from bad cidr", opts: `from="10.0.0.0/33"`, want: `invalid from pattern "10.0.0.0/33"`},
		{name: "from cidr with wildcard", opts: `from="10.*/8"`, want: `invalid from pattern "10.*/8"`},
		{name: "from escaped quote", opts: `from="a\"b"`, want: `invalid from pattern "a\"b"`},
		{name: "from text after value", opts: `from="a"b`, want: `unexpected text after the value`},
		{name: "unclosed quote", opts: `from="a`, want: `malformed key`},
		{name: "expiry twice", opts: `expiry-time="20300101",expiry-time="20310101"`, want: `option "expiry-time" given twice`},
		{name: "expiry dashes", opts: `expiry-time="2026-01-01"`, want: `invalid expiry-time "2026-01-01"`},
		{name: "permitopen no port", opts: `permitopen="localhost"`, want: `invalid permitopen "localhost"`},
		{name: "permitopen port 0", opts: `permitopen="localhost:0"`, want: `invalid permitopen "localhost:0"`},
		{name: "permitopen port too big", opts: `permitopen="localhost:65536"`, want: `invalid permitopen "localhost:65536"`},
		{name: "permitopen port sign", opts: `permitopen="localhost:+80"`, want: `invalid permitopen "localhost:+80"`},
		{name: "permitopen bare ipv6", opts: `permitopen="::1:8081"`, want: `invalid permitopen "::1:8081"`},
		{name: "permitopen unclosed bracket", opts: `permitopen="[::1:8081"`, want: `invalid permitopen "[::1:8081"`},
		{name: "permitopen empty host", opts: `permitopen=":80"`, want: `invalid permitopen ":80"`},
		{name: "leading comma", opts: ",restrict", want: "empty option"},
		{name: "double comma", opts: "restrict,,pty", want: "empty option"},
		{name: "trailing comma", opts: "restrict,", want: "options end with a comma"},
		{name: "option named like key type", opts: "ssh-ed25519", want: `unknown option "ssh-ed25519"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptionsLine(t, tt.opts)
			if err == nil {
				t.Fatalf("got nil error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), "authorized_keys:1: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want authorized_keys:1: ...%s", err, tt.want)
			}
		})
	}
}

func TestExpiryTime(t *testing.T) {
	local := func(y int, m time.Month, d, h, min, s int) time.Time {
		return time.Date(y, m, d, h, min, s, 0, time.Local)
	}
	utc := func(y int, m time.Month, d, h, min, s int) time.Time {
		return time.Date(y, m, d, h, min, s, 0, time.UTC)
	}
	tests := []struct {
		name    string
		value   string
		want    time.Time
		wantErr bool
	}{
		{name: "8 digits", value: "20300102", want: local(2030, 1, 2, 0, 0, 0)},
		{name: "12 digits", value: "203001020304", want: local(2030, 1, 2, 3, 4, 0)},
		{name: "14 digits", value: "20300102030405", want: local(2030, 1, 2, 3, 4, 5)},
		{name: "8 digits Z", value: "20300102Z", want: utc(2030, 1, 2, 0, 0, 0)},
		{name: "12 digits Z", value: "203001020304Z", want: utc(2030, 1, 2, 3, 4, 0)},
		{name: "14 digits Z", value: "20300102030405Z", want: utc(2030, 1, 2, 3, 4, 5)},
		{name: "lower z", value: "20300102z", want: utc(2030, 1, 2, 0, 0, 0)},
		{name: "UTC suffix", value: "20300102UTC", want: utc(2030, 1, 2, 0, 0, 0)},
		{name: "leap day", value: "20280229Z", want: utc(2028, 2, 29, 0, 0, 0)},
		{name: "past is valid", value: "20000101Z", want: utc(2000, 1, 1, 0, 0, 0)},
		{name: "invalid month", value: "20301301", wantErr: true},
		{name: "month zero", value: "20300001", wantErr: true},
		{name: "day 32", value: "20300132", wantErr: true},
		{name: "not a leap year", value: "20300229", wantErr: true},
		{name: "hour 24", value: "203001022400", wantErr: true},
		{name: "minute 60", value: "203001020360", wantErr: true},
		{name: "7 digits", value: "2030010", wantErr: true},
		{name: "10 digits", value: "2030010203", wantErr: true},
		{name: "13 digits", value: "2030010203040", wantErr: true},
		{name: "16 digits", value: "2030010203040506", wantErr: true},
		{name: "dashes", value: "2030-01-02", wantErr: true},
		{name: "only Z", value: "Z", wantErr: true},
		{name: "empty", value: "", wantErr: true},
		{name: "letters", value: "2030o102", wantErr: true},
		{name: "other zone", value: "20300102+0100", wantErr: true},
		{name: "epoch", value: "19700101000000Z", wantErr: true},
		{name: "before epoch", value: "19691231Z", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptionsLine(t, `expiry-time="`+tt.value+`"`)
			if tt.wantErr {
				want := `authorized_keys:1: invalid expiry-time "` + tt.value + `"`
				if err == nil || err.Error() != want {
					t.Errorf("got %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.ExpiryTime.Equal(tt.want) {
				t.Errorf("got %v, want %v", got.ExpiryTime, tt.want)
			}
		})
	}
}

func TestForwardingDisabled(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want bool
	}{
		{name: "no options", opts: "", want: false},
		{name: "restrict", opts: "restrict", want: true},
		{name: "restrict then port-forwarding", opts: "restrict,port-forwarding", want: false},
		{name: "port-forwarding then restrict", opts: "port-forwarding,restrict", want: true},
		{name: "no-port-forwarding", opts: "no-port-forwarding", want: true},
		{name: "no then yes", opts: "no-port-forwarding,port-forwarding", want: false},
		{name: "yes then no", opts: "port-forwarding,no-port-forwarding", want: true},
		{name: "restrict no-port-forwarding port-forwarding", opts: "restrict,no-port-forwarding,port-forwarding", want: false},
		{name: "permitopen alone", opts: `permitopen="a:1"`, want: false},
		{name: "other flags", opts: "no-pty,no-agent-forwarding", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptionsLine(t, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.ForwardingDisabled(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOptionsString(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "empty", opts: Options{}, want: ""},
		{name: "empty slices", opts: Options{From: []string{}, PermitOpen: []HostPort{}}, want: ""},
		{name: "flags in order", opts: Options{VerifyRequired: true, NoTouchRequired: true, NoPortForwarding: true, PortForwarding: true, Restrict: true},
			want: "restrict,port-forwarding,no-port-forwarding,no-touch-required,verify-required"},
		{name: "values", opts: Options{
			From:       []string{"127.0.0.1", "!10.0.0.1"},
			ExpiryTime: time.Date(2030, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600)),
			PermitOpen: []HostPort{{"::1", 8081}, {"nanomq", -1}},
		}, want: `from="127.0.0.1,!10.0.0.1",expiry-time="20300102020405Z",permitopen="[::1]:8081",permitopen="nanomq:*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
