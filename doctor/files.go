package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"

	"github.com/loopgate/loopgate/keys"
)

// File is a file the gateway reads.
type File struct {
	Path    string
	Private bool   // holds a private key: no access for group or others
	What    string // e.g. "host key"
}

// Files checks each file's mode and owner the way serve does: private key
// files 0600 (no group or other bits) and owned by the user running doctor;
// the config and authorized_keys not writable by group or others and owned
// by that user or root.
func Files(files []File) []Result {
	var out []Result
	if os.Geteuid() == 0 {
		out = append(out, Result{Check: "runs as the gateway's user", Subject: "doctor", Status: Warn,
			Detail: "running as root: owners are checked against root, not the gateway's user",
			Fix:    "run doctor as the user that runs the gateway, e.g. sudo -u loopgate gateway doctor --config FILE"})
	}
	for _, f := range files {
		out = append(out, fileResult(f))
	}
	return out
}

func fileResult(f File) Result {
	r := Result{Check: f.What + " mode and owner", Subject: f.Path}
	check, want := keys.CheckNotWritable, "not writable by group or others"
	if f.Private {
		check, want = keys.CheckPrivateFile, "readable by its owner only"
	}
	err := check(f.Path)
	var perm *keys.PermissionError
	switch {
	case err == nil:
		r.Status, r.Detail = Pass, describeFile(f.Path)+", "+want
	case errors.Is(err, fs.ErrNotExist):
		r.Status, r.Detail = Fail, "missing"
		r.Fix = "restore the file, or correct its path in the gateway config"
	case errors.As(err, &perm):
		r.Status, r.Detail, r.Fix = Fail, describeFile(f.Path)+": "+perm.Problem, perm.Fix
		if r.Fix == "" {
			r.Fix = "replace it with a regular file"
		}
	default:
		r.Status, r.Detail, r.Fix = Fail, err.Error(), "make the file readable by the gateway's user"
	}
	return r
}

// describeFile is "mode 0600, uid 1000" for a file that can be statted.
func describeFile(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "cannot stat"
	}
	s := fmt.Sprintf("mode %04o", fi.Mode().Perm())
	if uid, ok := fileUID(fi); ok {
		s += ", uid " + strconv.FormatUint(uint64(uid), 10)
	}
	return s
}

// HostKeys checks that the gateway has at least one host key and that each
// loads.
func HostKeys(paths []string) []Result {
	if len(paths) == 0 {
		return []Result{{Check: "host key present", Subject: "HostKey", Status: Fail,
			Detail: "the config names no host key", Fix: "add `HostKey FILE` to the gateway config (gateway init creates one)"}}
	}
	var out []Result
	for _, p := range paths {
		r := Result{Check: "host key present", Subject: p}
		s, err := keys.LoadHostKey(p)
		if err != nil {
			r.Status, r.Detail, r.Fix = Fail, err.Error(), "restore the host key, or create one with ssh-keygen -t ed25519 -N '' -f "+p
		} else {
			r.Status, r.Detail = Pass, s.PublicKey().Type()+" "+keys.Fingerprint(s.PublicKey())
		}
		out = append(out, r)
	}
	return out
}

// Config reports what `gateway check` found in the config at path; parsed
// is false when the config itself could not be read or parsed.
func Config(path string, problems []error, parsed bool) Result {
	r := Result{Check: "config passes check", Subject: path}
	switch {
	case len(problems) == 0:
		r.Status, r.Detail = Pass, "serve would start with it"
	case !parsed && errors.Is(problems[0], fs.ErrNotExist):
		r.Status, r.Detail = Fail, problems[0].Error()
		r.Fix = "give the path of the gateway's config (gateway init creates one)"
	case len(problems) == 1:
		r.Status, r.Detail = Fail, problems[0].Error()
		r.Fix = "fix the problem; gateway check --config " + path + " lists each one"
	default:
		r.Status, r.Detail = Fail, fmt.Sprintf("%d problems, the first: %v", len(problems), problems[0])
		r.Fix = "fix the problems; gateway check --config " + path + " lists each one"
	}
	return r
}

// GatewayListening checks that something (the gateway, presumably) listens
// on the config's Listen port.
func GatewayListening(listen string, ls []Listener, tableErr error) Result {
	r := Result{Check: "gateway is listening", Subject: listen}
	_, p, err := net.SplitHostPort(listen)
	port, perr := strconv.ParseUint(p, 10, 16)
	if err != nil || perr != nil || tableErr != nil {
		r.Status, r.Detail = Warn, "cannot tell whether gateway serve is running"
		r.Fix = "run doctor on the device itself (Linux, /proc mounted)"
		return r
	}
	for _, l := range ls {
		if uint64(l.Addr.Port()) == port {
			r.Status, r.Detail = Pass, "port "+p+" is listening ("+l.Addr.String()+")"
			return r
		}
	}
	r.Status, r.Detail = Warn, "nothing listens on port "+p+": gateway serve is not running"
	r.Fix = "start it: systemctl start loopgate-gateway, or gateway serve --config FILE"
	return r
}
