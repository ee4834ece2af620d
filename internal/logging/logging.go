// Package logging builds the slog logger the commands hand to every
// package: charmbracelet/log text for people, JSON lines for machines.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/charmbracelet/log"
	"github.com/muesli/termenv"
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
	return slog.New(Charm(w, opts)), nil
}

// Charm is log.NewWithOptions without the terminal colour queries: for a
// terminal, charmbracelet/log asks it for its foreground and background
// colours (OSC 10 and 11) and waits up to 5 s for each answer, so on a
// terminal that does not answer (a serial console, script(1), some
// multiplexers) every command stalled 10 s before its first line. The
// logger here writes through a wrapper that termenv does not take for a
// terminal, and gets its colour profile from the environment and whether w
// is a terminal instead (NO_COLOR and CLICOLOR_FORCE are honoured). Its
// styles use fixed colours, so nothing needs the answers.
func Charm(w io.Writer, opts log.Options) *log.Logger {
	l := log.NewWithOptions(plainWriter{w}, opts)
	l.SetColorProfile(termenv.NewOutput(w).EnvColorProfile())
	return l
}

// plainWriter hides w's file descriptor from termenv.
type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
