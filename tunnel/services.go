package tunnel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/policy"
)

// ServicesRequest is the global request a client sends to learn which
// services its key may reach and on which port: the reply payload is an
// SSH string of "name port" lines. Stock OpenSSH servers refuse it, and a
// client then needs the port spelled out.
const ServicesRequest = "services@loopgate"

// ServiceInfo is one entry of the service list.
type ServiceInfo struct {
	Name string
	Port int
}

type servicesReply struct {
	List string
}

// answerServices replies with the services the current rules let this
// connection's key open, exactly those a direct-tcpip by name would get.
func (c *gwConn) answerServices(r *ssh.Request) {
	rules := c.g.rules.Load()
	var lines []string
	if c.admitted(rules) == nil {
		k, _ := rules.lookup(c.who.Load().pub)
		for _, s := range rules.Policy.Services() {
			if _, err := rules.Policy.Check(k, s.Name, uint32(s.Addr.Port())); err == nil {
				lines = append(lines, fmt.Sprintf("%s %d", s.Name, s.Addr.Port()))
			}
		}
	}
	c.log.Debug("services listed", "count", len(lines))
	if r.WantReply {
		r.Reply(true, ssh.Marshal(servicesReply{List: strings.Join(lines, "\n")}))
	}
}

// ErrNoServiceList means the server does not answer ServicesRequest: it is
// not a loopgate gateway (a stock sshd), so ports must be given.
var ErrNoServiceList = errors.New("the server does not list services (not a loopgate gateway?); give the port, e.g. nanomq:8081")

// Services asks the gateway which services this key may reach.
func (c *Client) Services(ctx context.Context) ([]ServiceInfo, error) {
	conn, err := c.SSH(ctx)
	if err != nil {
		return nil, err
	}
	ok, payload, err := conn.SendRequest(ServicesRequest, true, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDown, err)
	}
	if !ok {
		return nil, ErrNoServiceList
	}
	return parseServices(payload)
}

func parseServices(payload []byte) ([]ServiceInfo, error) {
	var reply servicesReply
	if err := ssh.Unmarshal(payload, &reply); err != nil {
		return nil, fmt.Errorf("malformed service list: %w", err)
	}
	var out []ServiceInfo
	for line := range strings.SplitSeq(reply.List, "\n") {
		if line == "" {
			continue
		}
		name, port, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(port)
		if !ok || err != nil || n < 1 || n > 65535 || !policy.ValidServiceName(name) {
			return nil, fmt.Errorf("malformed service list entry %q", line)
		}
		out = append(out, ServiceInfo{Name: name, Port: n})
	}
	return out, nil
}

// ServicePort returns the port of a service the gateway lists for this key.
func (c *Client) ServicePort(ctx context.Context, name string) (int, error) {
	list, err := c.Services(ctx)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(list, func(s ServiceInfo) bool { return s.Name == name })
	if i < 0 {
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		return 0, fmt.Errorf("service %q: %w (this key may reach: %s)", name, ErrRefused, strings.Join(names, ", "))
	}
	return list[i].Port, nil
}
