// Package watch notices changes to files by polling them: no inotify, so
// it works the same for every editor, for atomic renames and for deletes.
package watch

import (
	"context"
	"os"
	"slices"
	"time"
)

// state is what polling can see of a file.
type state struct {
	info os.FileInfo // nil: missing or unreadable
}

func (s state) same(o state) bool {
	switch {
	case s.info == nil || o.info == nil:
		return s.info == nil && o.info == nil
	case !os.SameFile(s.info, o.info): // replaced, e.g. by an atomic rename
		return false
	}
	return s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime()) && s.info.Mode() == o.info.Mode()
}

func stat(path string) state {
	fi, err := os.Stat(path)
	if err != nil {
		return state{}
	}
	return state{info: fi}
}

// Poll checks the files paths returns every interval and calls onChange
// once per round in which any of them was created, deleted, replaced or
// modified, or the list itself changed. It returns when ctx is done.
func Poll(ctx context.Context, interval time.Duration, paths func() []string, onChange func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	list, seen := snapshot(paths())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nl, ns := snapshot(paths())
		if !slices.Equal(list, nl) || !slices.EqualFunc(seen, ns, state.same) {
			onChange()
			// What onChange did (a reload) may change the list: look again.
			nl, ns = snapshot(paths())
		}
		list, seen = nl, ns
	}
}

func snapshot(paths []string) ([]string, []state) {
	out := make([]state, len(paths))
	for i, p := range paths {
		out[i] = stat(p)
	}
	return slices.Clone(paths), out
}
