package policy_test

import (
	"errors"
	"fmt"

	"github.com/loopgate/loopgate/policy"
)

func Example() {
	nanomq, err := policy.ParseService("nanomq", "127.0.0.1:8081")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := policy.New([]policy.Service{nanomq}, map[string][]string{"alice": {"nanomq"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	// ssh -N -L 18081:nanomq:8081 alice@device
	alice := policy.Key{Name: "alice"}
	s, err := p.Check(alice, "nanomq", 8081)
	fmt.Println(s.Name, s.Addr, err)

	// The same service by its literal address, or by localhost.
	s, _ = p.Check(alice, "localhost", 8081)
	fmt.Println(s.Addr)

	// Spellings that are not the service's address select nothing.
	_, err = p.Check(alice, "127.1", 8081)
	fmt.Println(errors.Is(err, policy.ErrUnknownService))

	// bob has no grant.
	_, err = p.Check(policy.Key{Name: "bob"}, "nanomq", 8081)
	fmt.Println(errors.Is(err, policy.ErrNotGranted))

	// Output:
	// nanomq 127.0.0.1:8081 <nil>
	// 127.0.0.1:8081
	// true
	// true
}
