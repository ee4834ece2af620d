package tunnel

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxLogString bounds any peer-supplied string in a log line.
const maxLogString = 256

// clean makes a peer-supplied string safe for a log line: control
// characters, invalid UTF-8 and non-printing runes are escaped, and the
// result is cut to maxLogString bytes.
func clean(s string) string {
	truncated := false
	if len(s) > maxLogString {
		s, truncated = s[:maxLogString], true
	}
	needs := !utf8.ValidString(s)
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || !strconv.IsPrint(r) {
			needs = true
			break
		}
	}
	if needs {
		q := strconv.QuoteToASCII(s)
		s = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
		if len(s) > maxLogString { // escaping grew it; the result is ASCII, so any cut is clean
			s, truncated = s[:maxLogString], true
		}
	}
	if truncated {
		s += "..."
	}
	return s
}
