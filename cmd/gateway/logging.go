package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/charmbracelet/log"
)

// newLogger builds the slog logger every package writes to: text for
// people, JSON lines for machines, on stderr.
func newLogger(format, level string) (*slog.Logger, error) {
	lvl, err := log.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := log.Options{Level: lvl, ReportTimestamp: true, TimeFormat: time.RFC3339}
	switch format {
	case "text":
		opts.Formatter = log.TextFormatter
	case "json":
		opts.Formatter = log.JSONFormatter
		opts.TimeFormat = time.RFC3339Nano
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(log.NewWithOptions(os.Stderr, opts)), nil
}
