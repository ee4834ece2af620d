package tunnel

import (
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/policy"
)

// Rules is an immutable snapshot of who may do what: the policy and the
// keys it knows. A Gateway swaps whole Rules on reload, so a decision never
// sees half of an old file and half of a new one.
type Rules struct {
	Policy *policy.Policy
	keys   map[string]policy.Key // by ssh wire-format public key

	tokenKey *keys.TokenKey               // nil: no tokens
	profiles map[string]keys.TokenProfile // service -> profile (never "none")
}

// NewRules joins a policy with the entries of an authorized_keys file.
// source names the file in errors. Every entry needs a valid identity name
// in its comment field, and its options must be ones policy can apply.
func NewRules(p *policy.Policy, entries []keys.AuthorizedKey, source string) (*Rules, error) {
	r := &Rules{Policy: p, keys: make(map[string]policy.Key, len(entries))}
	for _, e := range entries {
		k, err := policyKey(e)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, e.Line, err)
		}
		r.keys[string(e.Key.Marshal())] = k
	}
	return r, nil
}

func policyKey(e keys.AuthorizedKey) (policy.Key, error) {
	if !policy.ValidName(e.Comment) {
		return policy.Key{}, fmt.Errorf("comment %q is not a valid identity name (letters, digits and ._@+- ; it names the key's owner)", e.Comment)
	}
	k := policy.Key{
		Name:             e.Comment,
		Fingerprint:      keys.Fingerprint(e.Key),
		From:             e.Options.From,
		Expiry:           e.Options.ExpiryTime,
		NoPortForwarding: e.Options.ForwardingDisabled(),
	}
	for _, f := range e.Options.From {
		if err := policy.ValidFromPattern(f); err != nil {
			return policy.Key{}, fmt.Errorf("from=: %w", err)
		}
	}
	for _, hp := range e.Options.PermitOpen {
		k.PermitOpen = append(k.PermitOpen, policy.Target{Host: hp.Host, Port: hp.Port})
	}
	return k, nil
}

// lookup returns what the rules say about a public key.
func (r *Rules) lookup(pub ssh.PublicKey) (policy.Key, bool) {
	if r == nil {
		return policy.Key{}, false
	}
	k, ok := r.keys[string(pub.Marshal())]
	return k, ok
}

// Len reports how many keys the rules know.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}
