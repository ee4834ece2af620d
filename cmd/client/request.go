package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loopgate/loopgate/proxy"
)

func newRequestCmd(o *common) *cobra.Command {
	var service, data string
	var headers []string
	var timeout time.Duration
	var cred credFlags
	cmd := &cobra.Command{
		Use:   "request DEST --service NAME METHOD PATH [-H 'K: V']... [--data @FILE|-|TEXT] [--auth ...]",
		Short: "Send one HTTP request through the tunnel and print the response body",
		Long: `request sends one HTTP request to the service with the credential injected and
prints the response body on stdout (status and headers on stderr with -v). It
exits non-zero when the tunnel fails or the API answers with a status of 400 or
more. Redirects are not followed. An Authorization header cannot be given with
-H: credentials come from --auth-file or --auth-env only.`,
		Example: `  client request alice@device --service nanomq GET /api/v4/brokers
  client request alice@device --service web:8080 --auth basic --auth-env WEB_CRED GET /status
  echo '{"cmd":"stop"}' | client request device --service nanomq POST /api/v4/ctrl --data -`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if service == "" {
				return errors.New("--service is required")
			}
			req, err := buildRequest(cmd.InOrStdin(), args[1], args[2], headers, data)
			if err != nil {
				return err
			}
			if err := cred.check(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runRequest(ctx, o, args[0], service, req, &cred, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "gateway service, NAME or NAME:PORT (required)")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "request header 'Key: Value' (repeatable)")
	cmd.Flags().StringVar(&data, "data", "", "request body: @FILE, - for stdin, or the text itself")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "bound on the whole request, connection included")
	cred.add(cmd)
	return cmd
}

// buildRequest checks the method, path and headers and reads the body.
func buildRequest(stdin io.Reader, method, path string, headers []string, data string) (*http.Request, error) {
	if method == "" || strings.ContainsFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return nil, fmt.Errorf("method %q: want an upper-case HTTP method such as GET", method)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t") {
		return nil, fmt.Errorf("path %q: want an absolute path such as /api/v4/brokers", path)
	}
	body, err := readData(stdin, data)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, "http://service"+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \r\n") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("-H %q: want 'Key: Value'", h)
		}
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Proxy-Authorization") {
			return nil, fmt.Errorf("-H %s: credentials are not taken from the command line; use --auth with --auth-file or --auth-env", k)
		}
		req.Header.Add(k, v)
	}
	return req, nil
}

func readData(stdin io.Reader, data string) ([]byte, error) {
	const limit = 64 << 20
	var r io.Reader
	switch {
	case data == "":
		return nil, nil
	case data == "-":
		r = stdin
	case strings.HasPrefix(data, "@"):
		f, err := os.Open(data[1:])
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		defer f.Close()
		r = f
	default:
		return []byte(data), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("--data: larger than %d bytes", limit)
	}
	return b, nil
}

func runRequest(ctx context.Context, o *common, destArg, service string, req *http.Request, flags *credFlags, stdout, stderr io.Writer) error {
	_, cfg, _, closeClient, err := serviceProxy(ctx, o, destArg, service, flags)
	if err != nil {
		return err
	}
	defer closeClient()
	resp, err := proxy.Do(ctx, cfg, req.WithContext(ctx))
	if err != nil {
		status, reason := proxy.StatusFor(err)
		return fmt.Errorf("%s %s: %s (%d): %w", req.Method, req.URL.Path, reason, status, err)
	}
	defer resp.Body.Close()
	if o.verbose {
		printHead(stderr, resp)
	}
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 400 {
		return &exitError{code: 1, err: fmt.Errorf("%s %s: HTTP %s", req.Method, req.URL.Path, resp.Status)}
	}
	return nil
}

func printHead(w io.Writer, resp *http.Response) {
	fmt.Fprintf(w, "%s %s\n", resp.Proto, resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
}
