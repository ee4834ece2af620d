package dest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"unicode/utf8"
)

// local is what the % tokens and ~ know about the machine we run on.
type local struct {
	home     string // %d and ~
	user     string // %u, and the default remote user
	uid      string // %i
	hostname string // %l; %L is its first label
}

// newLocal fills in what o leaves unset from the running process.
func newLocal(o Overrides) (*local, error) {
	l := &local{home: o.Home, user: o.LocalUser, uid: strconv.Itoa(os.Getuid())}
	if l.home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("find home directory: %w", err)
		}
		l.home = h
	}
	if l.user == "" {
		l.user = currentUser()
	}
	if l.user == "" {
		return nil, fmt.Errorf("cannot tell the local user name; give user@ in the destination or User in ssh config")
	}
	l.hostname, _ = os.Hostname()
	return l, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return os.Getenv("USERNAME")
}

// pathTokens are the % tokens OpenSSH expands in IdentityFile and
// UserKnownHostsFile, for d.
func (l *local) pathTokens(d *Destination) map[byte]string {
	k := d.HostKeyAlias
	if k == "" {
		k = d.Alias
	}
	short, _, _ := strings.Cut(l.hostname, ".")
	return map[byte]string{
		'd': l.home,
		'h': d.HostName,
		'i': l.uid,
		'k': k,
		'l': l.hostname,
		'L': short,
		'n': d.Alias,
		'p': strconv.Itoa(d.Port),
		'r': d.User,
		'u': l.user,
	}
}

// expandPath expands a leading ~ and then the % tokens, in that order, as
// OpenSSH does.
func (l *local) expandPath(path string, tokens map[byte]string) (string, error) {
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

// expandTokens replaces %x with tokens[x] and %% with %. An unknown token or
// a lone % at the end is an error, as in OpenSSH.
func expandTokens(s string, tokens map[byte]string) (string, error) {
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
		v, ok := tokens[s[i]]
		if !ok {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", fmt.Errorf("unknown token %%%c", r)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
