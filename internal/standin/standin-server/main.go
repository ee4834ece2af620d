// Command standin-server serves the NanoMQ stand-in API (package standin) on
// a loopback address, for integration tests that run it as a separate
// process. It prints "listening ADDR" on stdout once it accepts connections,
// logs each refusal on stderr, and on SIGINT or SIGTERM stops and prints its
// counters on stderr.
//
//	standin-server -listen 127.0.0.1:0 -mode jwt -pubkey jwtRS256.key.pub
//	standin-server -mode basic -user admin -password-file pw
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/loopgate/loopgate/internal/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "standin-server: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	api, listen, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ln, err := listenLoopback(listen)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- api.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())

	select {
	case err = <-done:
	case <-ctx.Done():
		api.Close()
		err = <-done
	}
	fmt.Fprintf(stderr, "standin-server: accepted %d, refusals %v\n", api.Accepted(), api.Refusals())
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// parseFlags builds the API from the command line.
func parseFlags(args []string, stderr io.Writer) (api *standin.API, listen string, err error) {
	fs := flag.NewFlagSet("standin-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "loopback `address` to listen on")
	mode := fs.String("mode", "basic", "credential check: basic or jwt")
	pubkey := fs.String("pubkey", "", "jwt mode: PEM public key `file`; its basename is the required iss")
	user := fs.String("user", "admin", "basic mode: user")
	passwordFile := fs.String("password-file", "", "basic mode: `file` holding the password (default: public)")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch *mode {
	case "basic":
		api, err = basicAPI(*user, *passwordFile)
	case "jwt":
		api, err = jwtAPI(*pubkey)
	default:
		err = fmt.Errorf("-mode %q: want basic or jwt", *mode)
	}
	if err != nil {
		return nil, "", err
	}
	api.Log = log
	return api, listen, nil
}

func basicAPI(user, passwordFile string) (*standin.API, error) {
	password := "public"
	if passwordFile != "" {
		data, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	}
	return &standin.API{Mode: standin.BasicMode, User: user, Password: password}, nil
}

func jwtAPI(pubkey string) (*standin.API, error) {
	if pubkey == "" {
		return nil, errors.New("-mode jwt needs -pubkey")
	}
	key, iss, err := standin.LoadPublicKey(pubkey)
	if err != nil {
		return nil, err
	}
	return &standin.API{Mode: standin.JWTMode, PublicKey: key, Issuer: iss}, nil
}

// listenLoopback listens on addr, which must name a loopback IP or
// localhost.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-listen %q: want a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("-listen %q: bound %s, not loopback", addr, ln.Addr())
	}
	return ln, nil
}
