package dest

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// local is what the % tokens and ~ know about the machine we run on.
type local struct {
	home     string        // %d and ~
	user     func() string // %u, and the default remote user; "" when unknown
	uid      string        // %i
	hostname string        // %l; %L is its first label
}

// errNoLocalUser is returned when the local user name is needed and cannot
// be found: as the remote user (no user in DEST or User), or for a %u.
var errNoLocalUser = errors.New("cannot tell the local user name (set USER)")

// newLocal fills in what o leaves unset from the running process. The
// local user name is looked up on first use only: with cgo that asks NSS
// (about 0.5 ms), and most destinations name their user.
func newLocal(o Overrides) (*local, error) {
	l := &local{home: o.Home, uid: strconv.Itoa(os.Getuid())}
	if o.LocalUser != "" {
		l.user = func() string { return o.LocalUser }
	} else {
		l.user = sync.OnceValue(lookupUser)
	}
	if l.home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("find home directory: %w", err)
		}
		l.home = h
	}
	l.hostname, _ = os.Hostname()
	return l, nil
}

// lookupUser finds the local user name; a variable so that tests can see
// when it is called.
var lookupUser = currentUser

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return os.Getenv("USERNAME")
}

// tokens gives the value of the % token x, or an error for one it does not
// know or cannot fill in.
type tokens func(x byte) (string, error)

// pathTokens are the % tokens OpenSSH expands in IdentityFile and
// UserKnownHostsFile, for d.
func (l *local) pathTokens(d *Destination) tokens {
	return func(x byte) (string, error) {
		switch x {
		case 'd':
			return l.home, nil
		case 'h':
			return d.HostName, nil
		case 'i':
			return l.uid, nil
		case 'k':
			if d.HostKeyAlias != "" {
				return d.HostKeyAlias, nil
			}
			return d.Alias, nil
		case 'l':
			return l.hostname, nil
		case 'L':
			short, _, _ := strings.Cut(l.hostname, ".")
			return short, nil
		case 'n':
			return d.Alias, nil
		case 'p':
			return strconv.Itoa(d.Port), nil
		case 'r':
			return d.User, nil
		case 'u':
			if u := l.user(); u != "" {
				return u, nil
			}
			return "", errNoLocalUser
		}
		return "", errUnknownToken
	}
}

// errUnknownToken is what a tokens func returns for a token it does not
// know; expandTokens names the token.
var errUnknownToken = errors.New("unknown token")

// expandPath expands a leading ~ and then the % tokens, in that order, as
// OpenSSH does.
func (l *local) expandPath(path string, tokens tokens) (string, error) {
	p, err := expandTilde(path, l.home)
	if err != nil {
		return "", err
	}
	return expandTokens(p, tokens)
}

// expandTilde replaces a leading "~" or "~/" with home. "~user" is refused
// rather than left as a file name that would never exist.
func expandTilde(path, home string) (string, error) {
	rest, ok := strings.CutPrefix(path, "~")
	switch {
	case !ok:
		return path, nil
	case rest == "":
		return home, nil
	case rest[0] != '/' && rest[0] != os.PathSeparator:
		return "", fmt.Errorf("~user is not supported")
	}
	return strings.TrimRight(home, "/"+string(os.PathSeparator)) + rest, nil
}

// expandTokens replaces %x with tokens(x) and %% with %. An unknown token or
// a lone % at the end is an error, as in OpenSSH.
func expandTokens(s string, tokens tokens) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("lone %% at the end")
		}
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, err := tokens(s[i])
		if errors.Is(err, errUnknownToken) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", fmt.Errorf("unknown token %%%c", r)
		}
		if err != nil {
			return "", fmt.Errorf("%%%c: %w", s[i], err)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
