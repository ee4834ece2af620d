// Package logging builds the slog logger the commands hand to every
// package: charmbracelet/log text for people, JSON lines for machines.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/charmbracelet/log"
)

// New returns a logger writing to w in format ("text" or "json") at level
// ("debug", "info", "warn" or "error"). textTime is the timestamp layout
// for text; JSON always uses RFC 3339 with nanoseconds.
func New(w io.Writer, format, level, textTime string) (*slog.Logger, error) {
	lvl, err := log.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := log.Options{Level: lvl, ReportTimestamp: true, TimeFormat: textTime}
	switch format {
	case "text":
		opts.Formatter = log.TextFormatter
	case "json":
		opts.Formatter, opts.TimeFormat = log.JSONFormatter, time.RFC3339Nano
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(log.NewWithOptions(w, opts)), nil
}
