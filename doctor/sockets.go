package doctor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// SocketTables are the kernel's TCP socket tables on Linux.
var SocketTables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// Listener is a TCP socket in the LISTEN state.
type Listener struct {
	Addr netip.AddrPort
	UID  uint32 // the socket owner's uid
}

// tcpListen is the kernel's state number for LISTEN (TCP_LISTEN).
const tcpListen = "0A"

// maxTableBytes bounds how much of one socket table is read.
const maxTableBytes = 64 << 20

// ReadListeners reads the listening sockets from paths (by default
// [SocketTables]). A missing table (no IPv6) is skipped; it is an error
// when none can be read.
func ReadListeners(paths ...string) ([]Listener, error) {
	if len(paths) == 0 {
		paths = SocketTables
	}
	var all []Listener
	read := 0
	for _, p := range paths {
		data, err := readBounded(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ls, err := ParseSocketTable(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, ls...)
		read++
	}
	if read == 0 {
		return nil, fmt.Errorf("no socket table found (%s): %w", strings.Join(paths, ", "), fs.ErrNotExist)
	}
	return all, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTableBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxTableBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxTableBytes)
	}
	return data, nil
}

// ParseSocketTable parses the text of /proc/net/tcp or /proc/net/tcp6 and
// returns the sockets in the LISTEN state. The first line is a header;
// every other line must have the kernel's shape, or it is an error naming
// the line.
func ParseSocketTable(data []byte) ([]Listener, error) {
	var out []Listener
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // "  sl  local_address rem_address   st ..."
		}
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		l, listening, err := parseSocketLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if listening {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// parseSocketLine reads "sl local rem st tx:rx tr:when retrnsmt uid ...".
func parseSocketLine(text string) (Listener, bool, error) {
	f := strings.Fields(text)
	if len(f) < 8 || !strings.HasSuffix(f[0], ":") {
		return Listener{}, false, fmt.Errorf("not a socket table row")
	}
	if f[3] != tcpListen {
		return Listener{}, false, nil
	}
	addr, err := parseHexAddrPort(f[1])
	if err != nil {
		return Listener{}, false, fmt.Errorf("local address %q: %w", f[1], err)
	}
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return Listener{}, false, fmt.Errorf("uid %q: %w", f[7], err)
	}
	return Listener{Addr: addr, UID: uint32(uid)}, true, nil
}

// parseHexAddrPort reads the kernel's "ADDR:PORT" in hex: ADDR is 8 (IPv4)
// or 32 (IPv6) hex digits, each 32-bit word printed as the host-order
// value of the network-order bytes; PORT is 4 hex digits.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, errors.New("want 8 or 32 hex digits, a colon and 4 hex digits")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, errors.New("port is not hex")
	}
	var b [16]byte
	for i := 0; i < len(a)/8; i++ {
		w, err := strconv.ParseUint(a[i*8:i*8+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, errors.New("address is not hex")
		}
		binary.NativeEndian.PutUint32(b[i*4:], uint32(w))
	}
	var ip netip.Addr
	if len(a) == 8 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		ip = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
