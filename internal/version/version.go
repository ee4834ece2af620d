// Package version reports what a binary was built from, from the build
// information the Go toolchain embeds: the module version and the VCS
// commit, its time, and whether the tree had uncommitted changes.
package version

import (
	"fmt"
	"runtime/debug"
)

// String describes the running binary, e.g.
// "v0.3.0 (commit 5e9641b0c1d2, 2026-11-26T01:46:20Z, go1.26.8)" or, for a
// build from a checkout, "(devel) (commit 5e9641b0c1d2+dirty, ...)".
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return describe(bi)
}

func describe(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	commit := settings["vcs.revision"]
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown"
	}
	if settings["vcs.modified"] == "true" {
		commit += "+dirty"
	}
	when := settings["vcs.time"]
	if when == "" {
		when = "time unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", v, commit, when, bi.GoVersion)
}
