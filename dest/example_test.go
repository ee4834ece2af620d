package dest_test

import (
	"fmt"
	"path/filepath"

	"github.com/loopgate/loopgate/dest"
)

func ExampleParse() {
	user, host, port, err := dest.Parse("alice@[fe80::1]:2222")
	fmt.Println(user, host, port, err)
	// Output: alice fe80::1 2222 <nil>
}

func ExampleResolve() {
	d, err := dest.Resolve("ssh://alice@Device:2222", dest.Overrides{
		ConfigFile: "none", // as with ssh -F none
		Home:       "/home/op",
		LocalUser:  "op",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.HostPort(), d.User, filepath.ToSlash(d.KnownHostsFiles[0]), d.StrictHostKeyChecking)
	// Output: device:2222 alice /home/op/.ssh/known_hosts yes
}
