package main

import (
	"context"
	"sync"
	"time"

	"github.com/loopgate/loopgate/config"
	"github.com/loopgate/loopgate/internal/watch"
)

// watchInterval is how often serve looks at its files. A change is applied
// once it has held for one interval, so an edit to authorized_keys (or
// `gateway revoke`) takes effect within two intervals, without a SIGHUP.
const watchInterval = 250 * time.Millisecond

// watched is the set of files serve reloads on change, and the channel
// that says they changed.
type watched struct {
	c     chan struct{}
	mu    sync.Mutex
	paths []string
}

func (w *watched) set(cfg *config.Config) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paths = []string{cfg.Path, cfg.AuthorizedKeysFile}
	if cfg.TokenKeyFile != "" {
		w.paths = append(w.paths, cfg.TokenKeyFile)
	}
}

func (w *watched) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paths
}

// watchFiles polls the config's files until stop is called.
func watchFiles(cfg *config.Config) (w *watched, stop func()) {
	w = &watched{c: make(chan struct{}, 1)}
	w.set(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watch.Poll(ctx, watchInterval, w.get, func() {
			select {
			case w.c <- struct{}{}:
			default: // a reload is already pending
			}
		})
	}()
	return w, func() { cancel(); <-done }
}
