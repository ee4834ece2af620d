package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/keys"
	"github.com/loopgate/loopgate/policy"
)

// File names inside a gateway directory.
const (
	hostKeyName        = "host_ed25519_key"
	tokenKeyName       = keys.DefaultTokenKeyName
	authorizedKeysName = "authorized_keys"
	configName         = "gateway.conf"
	defaultService     = "nanomq=127.0.0.1:8081"
)

func newInitCmd(a *app) *cobra.Command {
	var dir, listen string
	var services []string
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--listen ADDR] [--service NAME=ADDR]...",
		Short: "Create a gateway directory: host key, empty authorized_keys and config",
		Long: `init creates DIR (mode 0700) holding a new ed25519 host key (0600), an RSA
token signing key pair (` + keys.DefaultTokenKeyName + `, 0600, and its .pub), an empty
authorized_keys file (0600) and gateway.conf naming them, the listen address and
the services, each with the nanomq token profile. It prints the http_server block
to paste into nanomq.conf. A service is a name and a loopback IP:port, e.g. nanomq=127.0.0.1:8081;
without --service, init configures ` + defaultService + `.
init never overwrites: if any of the files exists it stops and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			if len(services) == 0 {
				services = []string{defaultService}
			}
			return runInit(cmd, dir, listen, services)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create the gateway's files in (required)")
	cmd.Flags().StringVar(&listen, "listen", config.DefaultListen, "address the SSH server listens on")
	cmd.Flags().StringArrayVar(&services, "service", nil, "a service as NAME=IP:PORT on loopback (repeatable)")
	return cmd
}

func parseServiceFlags(flags []string) ([]policy.Service, error) {
	var out []policy.Service
	for _, f := range flags {
		name, addr, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--service %q: want NAME=IP:PORT", f)
		}
		s, err := policy.ParseService(name, addr)
		if err != nil {
			return nil, fmt.Errorf("--service %q: %w", f, err)
		}
		out = append(out, s)
	}
	if _, err := policy.New(out, nil); err != nil {
		return nil, fmt.Errorf("--service: %w", err)
	}
	return out, nil
}

func runInit(cmd *cobra.Command, dir, listen string, serviceFlags []string) error {
	if err := config.ValidListen(listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	services, err := parseServiceFlags(serviceFlags)
	if err != nil {
		return err
	}
	hostKey := filepath.Join(dir, hostKeyName)
	authKeys := filepath.Join(dir, authorizedKeysName)
	conf := filepath.Join(dir, configName)
	tokenKey := filepath.Join(dir, tokenKeyName)
	for _, p := range []string{hostKey, hostKey + ".pub", authKeys, conf, tokenKey, tokenKey + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; init never overwrites (remove the directory or choose another --dir)", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	signer, err := keys.GenerateHostKey(hostKey, "loopgate-host")
	if err != nil {
		return err
	}
	if err := keys.GenerateTokenKey(tokenKey); err != nil {
		return err
	}
	if err := keys.CreateFileExclusive(authKeys, nil, 0o600); err != nil {
		return fmt.Errorf("create %s: %w", authKeys, err)
	}
	tokens := map[string]string{}
	for _, s := range services {
		tokens[s.Name] = "nanomq"
	}
	text := config.Render(config.Template{Listen: listen, HostKey: hostKeyName, AuthorizedKeysFile: authorizedKeysName,
		Services: services, TokenKey: tokenKeyName, Tokens: tokens})
	if err := keys.CreateFileExclusive(conf, text, 0o600); err != nil {
		return fmt.Errorf("create %s: %w", conf, err)
	}
	printInitDone(cmd, listen, conf, keys.Fingerprint(signer.PublicKey()), services)
	abs, err := filepath.Abs(tokenKey + ".pub")
	if err != nil {
		abs = tokenKey + ".pub"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nTokens: the gateway signs short-lived JWTs for the services with %s.\n", tokenKey)
	fmt.Fprint(cmd.OutOrStdout(), nanoMQBlock(services[0].Addr.Port(), abs))
	return nil
}

// nanoMQBlock is the http_server section NanoMQ needs to listen on
// loopback only and trust the gateway's tokens: NanoMQ checks that a
// token's iss equals the public key file's name.
func nanoMQBlock(port uint16, pubPath string) string {
	return fmt.Sprintf(`In nanomq.conf, set (and restart NanoMQ):

http_server {
    port = %d
    ip_addr = "127.0.0.1"
    auth_type = "jwt"
    jwt {
        public.keyfile = "%s"
    }
}

NanoMQ must be able to read that file. If it runs as another user, copy the file
where it can read it, keeping the name (NanoMQ requires a token's iss to be that
name), and set public.keyfile to the copy.
`, port, pubPath)
}

func printInitDone(cmd *cobra.Command, listen, conf, fp string, services []policy.Service) {
	dir := filepath.Dir(conf)
	_, port, _ := net.SplitHostPort(listen)
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "created %s (host key, authorized_keys, %s)\n", dir, configName)
	fmt.Fprintf(w, "host key fingerprint: %s\n", fp)
	for _, s := range services {
		fmt.Fprintf(w, "service %s -> %s\n", s.Name, s.Addr)
	}
	fmt.Fprintf(w, `
next:
  1. grant an operator's public key:
       gateway allow --config %[1]s --name alice --key alice.pub --service %[2]s
  2. run the daemon:
       gateway serve --config %[1]s
  3. on the operator's machine, pin the host key (compare the fingerprint above), then:
       echo "[DEVICE]:%[5]s $(cat %[3]s.pub)" >> ~/.ssh/known_hosts
       ssh -N -L 18081:%[2]s:%[4]d -p %[5]s alice@DEVICE
`, conf, services[0].Name, filepath.Join(dir, hostKeyName), services[0].Addr.Port(), port)
}
