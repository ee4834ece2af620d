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
// when any of them was created, deleted, replaced or modified, or the
// list itself changed, and has then stayed the same for one more
// interval: a file caught half-written (an editor that truncates, then
// writes) is not reloaded until the writer is done. "One more interval"
// is measured by the clock, not by ticks: a tick the program was too busy
// to take, followed at once by the next, is not a writer that has
// finished. It returns when ctx is done.
func Poll(ctx context.Context, interval time.Duration, paths func() []string, onChange func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	poll(ctx, t.C, time.Now, interval, paths, onChange)
}

// poll is Poll with its ticks and clock given, for tests.
func poll(ctx context.Context, ticks <-chan time.Time, now func() time.Time, interval time.Duration, paths func() []string, onChange func()) {
	minGap := interval / 2 // between two looks for the second to show the files settled
	appliedList, applied := snapshot(paths())
	prevList, prev, prevAt := appliedList, applied, now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		list, cur := snapshot(paths())
		at := now()
		if at.Sub(prevAt) < minGap {
			continue // too soon after the last look to tell a pause from a finish
		}
		changed := !slices.Equal(list, appliedList) || !slices.EqualFunc(cur, applied, state.same)
		settled := slices.Equal(list, prevList) && slices.EqualFunc(cur, prev, state.same)
		if changed && settled {
			// Remember what was seen before onChange read the files: a
			// change landing while it runs is then seen next time. If
			// onChange changes the list (a reload naming another file),
			// the next rounds see a new list and report it once settled.
			appliedList, applied = list, cur
			onChange()
		}
		prevList, prev, prevAt = list, cur, at
	}
}

func snapshot(paths []string) ([]string, []state) {
	out := make([]state, len(paths))
	for i, p := range paths {
		out[i] = stat(p)
	}
	return slices.Clone(paths), out
}
