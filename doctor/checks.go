package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Service is one service from the gateway's config, as the checks need it.
type Service struct {
	Name string
	Addr netip.AddrPort
	// NanoMQ is set for a service with the nanomq token profile: the
	// credential checks run against it.
	NanoMQ bool
	// Mint returns a fresh token for the service; nil when it has no
	// token profile.
	Mint func() (string, error)
	// PublicKeyFile and Issuer are what NanoMQ must be configured with
	// for the minted token to pass (for the fix text).
	PublicKeyFile, Issuer string
}

// nanoMQBindFix is the NanoMQ setting that makes its API listen on
// loopback only; NanoMQ's default ip_addr is 0.0.0.0.
const nanoMQBindFix = `in nanomq.conf set http_server { ip_addr = "127.0.0.1" } and restart NanoMQ (its default is 0.0.0.0, every interface)`

// LoopbackOnly checks, from the kernel's listening sockets ls (or the
// error reading them), that something listens on svc's port and only on
// loopback addresses.
func LoopbackOnly(svc Service, ls []Listener, tableErr error) Result {
	r := Result{Check: "listens on loopback only", Subject: svc.Name}
	if tableErr != nil {
		r.Status, r.Detail = Warn, "cannot read the kernel's socket tables: "+tableErr.Error()
		r.Fix = "run doctor on the device itself (Linux, /proc mounted) to check the listening address"
		return r
	}
	var loop, exposed []string
	dialled := false
	for _, l := range ls {
		if l.Addr.Port() != svc.Addr.Port() {
			continue
		}
		ip := l.Addr.Addr().Unmap()
		switch {
		case ip.IsLoopback():
			loop = append(loop, l.Addr.String())
			dialled = dialled || ip == svc.Addr.Addr().Unmap()
		case ip.IsUnspecified():
			exposed = append(exposed, l.Addr.String()+" (every interface)")
		default:
			exposed = append(exposed, l.Addr.String()+" (reachable from that network)")
		}
	}
	switch {
	case len(exposed) > 0:
		r.Status, r.Detail = Fail, "port "+portOf(svc)+" is listening on "+strings.Join(exposed, ", ")
		r.Fix = "make the service listen on " + svc.Addr.Addr().String() + " only and restart it"
		if svc.NanoMQ {
			r.Fix = nanoMQBindFix
		}
	case len(loop) == 0:
		r.Status, r.Detail = Fail, "nothing listens on port "+portOf(svc)+" in this network namespace"
		r.Fix = "start the service, or correct its Service line in the gateway config"
	case !dialled:
		r.Status, r.Detail = Warn, "listening on "+strings.Join(loop, ", ")+" but the gateway dials "+svc.Addr.String()
		r.Fix = "make the Service address in the gateway config match the one the service listens on"
	default:
		r.Status, r.Detail = Pass, "listening on "+strings.Join(loop, ", ")+" only"
	}
	return r
}

func portOf(svc Service) string { return fmt.Sprint(svc.Addr.Port()) }

// probeTimeout bounds each request a check sends.
const probeTimeout = 5 * time.Second

// maxProbeBody bounds how much of an answer is read.
const maxProbeBody = 4 << 10

// answer is what a service said to one request.
type answer struct {
	status int
	code   int // NanoMQ's {"code":N}, or -1
}

// probe sends GET path to addr, with the Authorization header auth if not
// empty, straight to the address (never through a proxy from the
// environment).
func probe(ctx context.Context, addr netip.AddrPort, path, auth string) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: probeTimeout, Control: loopbackOnly}).DialContext,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+path, nil)
	if err != nil {
		return answer{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	a := answer{status: resp.StatusCode, code: -1}
	var v struct {
		Code *int `json:"code"`
	}
	if json.Unmarshal(body, &v) == nil && v.Code != nil {
		a.code = *v.Code
	}
	return a, nil
}

// loopbackOnly refuses, before connecting, any address that is not
// loopback: the checks send a freshly minted token.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing to probe %s: not a loopback address", address)
	}
	return nil
}

func (a answer) String() string {
	if a.code >= 0 {
		return fmt.Sprintf("HTTP %d, code %d", a.status, a.code)
	}
	return fmt.Sprintf("HTTP %d", a.status)
}

// nanoMQPath is a read-only NanoMQ endpoint the credential checks use.
const nanoMQPath = "/api/v4/brokers"

// Answers checks that svc accepts a connection and answers HTTP.
func Answers(ctx context.Context, svc Service) Result {
	r := Result{Check: "answers", Subject: svc.Name}
	path := "/"
	if svc.NanoMQ {
		path = nanoMQPath
	}
	a, err := probe(ctx, svc.Addr, path, "")
	switch {
	case err == nil:
		r.Status, r.Detail = Pass, fmt.Sprintf("GET %s on %s: %s", path, svc.Addr, a)
	case isRefused(err):
		r.Status, r.Detail = Fail, "connection to "+svc.Addr.String()+" refused"
		r.Fix = "start the service, or correct its Service line in the gateway config"
	default:
		r.Status, r.Detail = Fail, fmt.Sprintf("GET %s on %s: %v", path, svc.Addr, err)
		r.Fix = "check that " + svc.Addr.String() + " is the service's HTTP port and that it is not hung"
	}
	return r
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && strings.Contains(err.Error(), "refused")
}

// NanoMQ runs the credential checks on a NanoMQ-profile service: a request
// without credentials and one with NanoMQ's default admin/public must be
// refused, and one with a freshly minted token accepted.
func NanoMQ(ctx context.Context, svc Service) []Result {
	return []Result{
		refuses(ctx, svc, "refuses no credentials", "", "set auth_type = \"jwt\" in nanomq.conf's http_server block (gateway init prints the block) and restart NanoMQ"),
		refuses(ctx, svc, "refuses admin/public", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:public")),
			"set auth_type = \"jwt\" in nanomq.conf's http_server block, or at least a username and password other than admin/public, and restart NanoMQ"),
		acceptsToken(ctx, svc),
	}
}

func refuses(ctx context.Context, svc Service, check, auth, fix string) Result {
	r := Result{Check: check, Subject: svc.Name}
	a, err := probe(ctx, svc.Addr, nanoMQPath, auth)
	switch {
	case err != nil:
		r.Status, r.Detail = Fail, "no answer: "+err.Error()
		r.Fix = "start NanoMQ and check its http_server port"
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		r.Status, r.Detail = Pass, "refused ("+a.String()+")"
	case a.status >= 200 && a.status < 300:
		r.Status, r.Detail, r.Fix = Fail, "accepted ("+a.String()+"): anyone who reaches the port is admin", fix
	default:
		r.Status, r.Detail = Warn, "unexpected answer ("+a.String()+") to GET "+nanoMQPath
		r.Fix = "check that this is NanoMQ's HTTP API, or give the service a token profile other than nanomq"
	}
	return r
}

func acceptsToken(ctx context.Context, svc Service) Result {
	r := Result{Check: "accepts a minted token", Subject: svc.Name}
	if svc.Mint == nil {
		r.Status, r.Detail = Fail, "the gateway cannot mint tokens for this service"
		r.Fix = "add TokenKey and `Token " + svc.Name + " nanomq` to the gateway config"
		return r
	}
	tok, err := svc.Mint()
	if err != nil {
		r.Status, r.Detail = Fail, "minting a token: "+err.Error()
		r.Fix = "run gateway check on the config and fix the token key"
		return r
	}
	a, err := probe(ctx, svc.Addr, nanoMQPath, "Bearer "+tok)
	keyFix := fmt.Sprintf(`in nanomq.conf's http_server block set auth_type = "jwt" and jwt { public.keyfile = %q } (NanoMQ then expects iss %q), and restart NanoMQ`,
		svc.PublicKeyFile, svc.Issuer)
	switch {
	case err != nil:
		r.Status, r.Detail = Fail, "no answer: "+err.Error()
		r.Fix = "start NanoMQ and check its http_server port"
	case a.status >= 200 && a.status < 300:
		r.Status, r.Detail = Pass, "accepted ("+a.String()+"): NanoMQ trusts "+svc.PublicKeyFile+" with iss "+svc.Issuer
	case a.code == 104:
		r.Status, r.Detail, r.Fix = Fail, "refused ("+a.String()+"): NanoMQ is not in JWT mode", keyFix
	case a.code == 103:
		r.Status, r.Detail, r.Fix = Fail, "refused ("+a.String()+"): NanoMQ's public key file or its name does not match the gateway's token key", keyFix
	case a.code == 116:
		r.Status, r.Detail = Fail, "refused ("+a.String()+"): token expired on arrival"
		r.Fix = "set the device clock (NTP); NanoMQ and the gateway read the same clock"
	default:
		r.Status, r.Detail, r.Fix = Fail, "refused ("+a.String()+")", keyFix
	}
	return r
}
