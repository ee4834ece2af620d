package doctor

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hexAddr writes ap the way the kernel prints it in /proc/net/tcp{,6}.
func hexAddr(ap netip.AddrPort) string {
	var b strings.Builder
	ip := ap.Addr()
	raw := ip.AsSlice()
	for i := 0; i < len(raw); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(raw[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}

const tableHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func tableLine(i int, local, remote netip.AddrPort, state string, uid uint32) string {
	return fmt.Sprintf("%4d: %s %s %s 00000000:00000000 00:00000000 00000000 %5d        0 %d 1 0000000000000000 100 0 0 10 0\n",
		i, hexAddr(local), hexAddr(remote), state, uid, 1000+i)
}

func TestParseSocketTable(t *testing.T) {
	ap := netip.MustParseAddrPort
	data := tableHeader +
		tableLine(0, ap("127.0.0.1:8081"), ap("0.0.0.0:0"), "0A", 0) +
		tableLine(1, ap("0.0.0.0:2222"), ap("0.0.0.0:0"), "0A", 998) +
		tableLine(2, ap("127.0.0.1:8081"), ap("127.0.0.1:40000"), "01", 0) + // established: not a listener
		tableLine(3, ap("[::]:8081"), ap("[::]:0"), "0A", 0) +
		tableLine(4, ap("[::1]:9000"), ap("[::]:0"), "0A", 1000) +
		"\n"
	got, err := ParseSocketTable([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Addr: ap("127.0.0.1:8081"), UID: 0},
		{Addr: ap("0.0.0.0:2222"), UID: 998},
		{Addr: ap("[::]:8081"), UID: 0},
		{Addr: ap("[::1]:9000"), UID: 1000},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The kernel's own rendering on a little-endian machine, copied from
// /proc/net/tcp: 127.0.0.1:8081 and 0.0.0.0:2222, listening.
func TestParseSocketTableKernelText(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the sample is a little-endian machine's table")
	}
	data := tableHeader +
		"   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 00000000:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 31338 1 0000000000000000 100 0 0 10 0\n"
	got, err := ParseSocketTable([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr.String() != "127.0.0.1:8081" || got[1].Addr.String() != "0.0.0.0:2222" || got[1].UID != 998 {
		t.Errorf("got %v, want 127.0.0.1:8081 uid 0 and 0.0.0.0:2222 uid 998", got)
	}
}

func TestParseSocketTableRefusesMalformed(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{name: "too few fields", line: "   0: 0100007F:1F91 00000000:0000 0A\n"},
		{name: "no index", line: "   0 0100007F:1F91 00000000:0000 0A 0:0 0:0 0 0 0 1\n"},
		{name: "short address", line: "   0: 0100007:1F91 00000000:0000 0A 0:0 0:0 0 0 0 1\n"},
		{name: "not hex", line: "   0: 0100007G:1F91 00000000:0000 0A 0:0 0:0 0 0 0 1\n"},
		{name: "port not hex", line: "   0: 0100007F:1FZ1 00000000:0000 0A 0:0 0:0 0 0 0 1\n"},
		{name: "no port", line: "   0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1\n"},
		{name: "uid not a number", line: "   0: 0100007F:1F91 00000000:0000 0A 0:0 0:0 0 x 0 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSocketTable([]byte(tableHeader + tc.line))
			if err == nil || !strings.Contains(err.Error(), "line 2") {
				t.Errorf("got %v, want an error naming line 2", err)
			}
		})
	}
}

// The real kernel: a socket this test opens shows up in the table.
func TestReadListenersSeesOwnSocket(t *testing.T) {
	if _, err := os.Stat(SocketTables[0]); err != nil {
		t.Skipf("no socket table here: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := ln.Addr().(*net.TCPAddr).AddrPort()
	ls, err := ReadListeners()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Addr == want && int(l.UID) == os.Getuid() {
			return
		}
	}
	t.Errorf("listener %v (uid %d) not among the %d listeners read", want, os.Getuid(), len(ls))
}

func TestReadListenersFiles(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "tcp")
	v6 := filepath.Join(dir, "tcp6")
	missing := filepath.Join(dir, "missing")
	if err := os.WriteFile(v4, []byte(tableHeader+tableLine(0, netip.MustParseAddrPort("127.0.0.1:8081"), netip.MustParseAddrPort("0.0.0.0:0"), "0A", 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v6, []byte(tableHeader+"garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ls, err := ReadListeners(v4, missing); err != nil || len(ls) != 1 {
		t.Errorf("with a missing tcp6: got %v, %v; want one listener", ls, err)
	}
	if _, err := ReadListeners(missing); err == nil {
		t.Error("no table at all: got no error")
	}
	if _, err := ReadListeners(v4, v6); err == nil || !strings.Contains(err.Error(), v6) {
		t.Errorf("malformed tcp6: got %v, want an error naming %s", err, v6)
	}
}

func FuzzParseSocketTable(f *testing.F) {
	ap := netip.MustParseAddrPort
	f.Add([]byte(tableHeader + tableLine(0, ap("127.0.0.1:8081"), ap("0.0.0.0:0"), "0A", 0)))
	f.Add([]byte(tableHeader + tableLine(0, ap("[::1]:8081"), ap("[::]:0"), "0A", 0)))
	f.Add([]byte(tableHeader + "   0: 0100007F:1F91 00000000:0000 0A 0:0 0:0 0 0 0 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := ParseSocketTable(data)
		if err != nil {
			return
		}
		// What parses re-renders and parses to the same listeners.
		var b strings.Builder
		b.WriteString(tableHeader)
		for i, l := range ls {
			remote := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			if l.Addr.Addr().Is6() {
				remote = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
			}
			b.WriteString(tableLine(i, l.Addr, remote, "0A", l.UID))
		}
		again, err := ParseSocketTable([]byte(b.String()))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(ls) {
			t.Fatalf("re-parse: got %v, %v; want %v", again, err, ls)
		}
	})
}
