package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	quick    bool
	jsonPath string
	repeat   int
	idle     []int
	idleMove int // --idle-move in bytes, 0 if not given (moveSize)
	bulk     int64
	duration time.Duration // of each request-rate run
	newconn  int           // new-connection samples per variant and repeat
	gateway  string        // binaries under test
	client   string
	keep     bool // keep the work directory (keys, configs, logs)
	phases   map[string]bool
}

// phaseNames are the measurements --phases can pick.
var phaseNames = []string{"bulk", "requests", "newconn", "idle"}

const usageText = `usage: loopbench --gateway BIN --client BIN [flags]
       (normally through bench/run, which builds the binaries and passes them)

Measures loopgate beside OpenSSH on 127.0.0.1 and prints one table of medians.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upstream" {
		if err := runUpstream(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "loopbench:", err)
			os.Exit(1)
		}
		return
	}
	opt, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opt)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopbench:", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// parseOptions reads the flags; --quick changes the defaults of the flags
// not given explicitly.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var idle, idleMove, bulk, phases string
	fs := flag.NewFlagSet("loopbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smaller run: --bulk 64MiB --idle 1000 --repeat 1 --duration 2s --newconn 3")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to `FILE`")
	fs.IntVar(&o.repeat, "repeat", 3, "repeats of every measurement (medians are reported)")
	fs.StringVar(&idle, "idle", "1000,10000", "idle forwarded connection counts, comma-separated (\"none\" to skip)")
	fs.StringVar(&idleMove, "idle-move", "", "bytes each idle connection downloads before the after-traffic reading, 1KiB to 16MiB in whole KiB\n"+
		"(default 1MiB, or 1GiB / N in whole KiB where that is less: 104KiB at 10,000; sshd with 10,000\n"+
		"channels open moves about 20 MiB/s here, so 1MiB at 10,000 takes about 8 minutes and 11 GiB of its memory a repeat)")
	fs.StringVar(&bulk, "bulk", "512MiB", "bytes per bulk transfer (suffix KiB, MiB or GiB)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each request-rate run")
	fs.IntVar(&o.newconn, "newconn", 5, "new connection + first request samples per variant and repeat")
	fs.StringVar(&o.gateway, "gateway", "", "gateway binary (required)")
	fs.StringVar(&o.client, "client", "", "client binary (required)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory with keys, configs and logs")
	fs.StringVar(&phases, "phases", strings.Join(phaseNames, ","), "measurements to run, comma-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		quickDefaults(fs, &o, &idle, &bulk)
	}
	var err error
	if o.idle, err = parseCounts(idle); err != nil {
		return o, fmt.Errorf("--idle: %w", err)
	}
	if o.bulk, err = parseSize(bulk); err != nil {
		return o, fmt.Errorf("--bulk: %w", err)
	}
	if idleMove != "" {
		n, err := parseSize(idleMove)
		if err != nil {
			return o, fmt.Errorf("--idle-move: %w", err)
		}
		if n < 1<<10 || n > 16<<20 || n%(1<<10) != 0 {
			return o, fmt.Errorf("--idle-move %s: want 1KiB to 16MiB in whole KiB", idleMove)
		}
		o.idleMove = int(n)
	}
	if o.phases, err = parsePhases(phases); err != nil {
		return o, fmt.Errorf("--phases: %w", err)
	}
	return o, o.check()
}

// quickDefaults applies --quick to every flag the user did not set.
func quickDefaults(fs *flag.FlagSet, o *options, idle, bulk *string) {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	quick := map[string]func(){
		"repeat":   func() { o.repeat = 1 },
		"idle":     func() { *idle = "1000" },
		"bulk":     func() { *bulk = "64MiB" },
		"duration": func() { o.duration = 2 * time.Second },
		"newconn":  func() { o.newconn = 3 },
	}
	for name, apply := range quick {
		if !set[name] {
			apply()
		}
	}
}

func (o options) check() error {
	switch {
	case o.gateway == "" || o.client == "":
		return errors.New("--gateway and --client are required (bench/run passes them)")
	case o.repeat < 1 || o.repeat > 100:
		return fmt.Errorf("--repeat %d: want 1 to 100", o.repeat)
	case o.bulk < 1<<20 || o.bulk > 64<<30:
		return fmt.Errorf("--bulk %d: want 1MiB to 64GiB", o.bulk)
	case o.duration < 500*time.Millisecond || o.duration > 10*time.Minute:
		return fmt.Errorf("--duration %s: want 500ms to 10m", o.duration)
	case o.newconn < 1 || o.newconn > 100:
		return fmt.Errorf("--newconn %d: want 1 to 100", o.newconn)
	}
	return nil
}

// parseCounts parses "1000,10000"; "none" or "" is no counts.
func parseCounts(s string) ([]int, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100000 {
			return nil, fmt.Errorf("%q: want counts from 1 to 100000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parsePhases parses "bulk,idle" into a set of phase names.
func parsePhases(s string) (map[string]bool, error) {
	out := make(map[string]bool)
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(phaseNames, f) {
			return nil, fmt.Errorf("%q: want some of %s", f, strings.Join(phaseNames, ","))
		}
		out[f] = true
	}
	return out, nil
}

// parseSize parses a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 || n > (1<<40)/u.mult {
			return 0, fmt.Errorf("%q: want a size such as 512MiB", s)
		}
		return n * u.mult, nil
	}
	return 0, fmt.Errorf("%q: want a size such as 512MiB", s)
}
