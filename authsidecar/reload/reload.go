// Package reload keeps the RBAC policy current on every pod: an fsnotify
// watch on the policy file's directory (Kubernetes ConfigMap "..data"
// symlink swaps included), a content poll every RBAC_RELOAD_INTERVAL as
// backstop, and a Redis subscriber on meshq:rbac_reload that reloads on
// every message and after every (re)subscription, so a pod that missed a
// broadcast while Redis was away catches up. An invalid policy never
// replaces the last good one.
package reload

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/redis/go-redis/v9"
)

// Channel is the Redis channel reload broadcasts go to.
const Channel = "meshq:rbac_reload"

// Metrics the holder reports to.
type Metrics interface {
	Reloaded(ok bool)
	Valid(ok bool)
}

// Holder holds the policy in force.
type Holder struct {
	inline   string
	file     string
	interval time.Duration
	watch    bool
	rdb      *redis.Client
	log      *slog.Logger
	metrics  Metrics

	cur     atomic.Pointer[rbac.Policy]
	mu      sync.Mutex // serialises loads
	content []byte
	lastErr error
}

// Config says where the policy comes from.
type Config struct {
	Inline   string        // RBAC_POLICY (wins)
	File     string        // RBAC_POLICY_FILE
	Interval time.Duration // RBAC_RELOAD_INTERVAL
	Watch    bool          // fsnotify on the file's directory
}

// New loads the policy once; an invalid policy at start is an error.
func New(cfg Config, rdb *redis.Client, log *slog.Logger, m Metrics) (*Holder, error) {
	h := &Holder{inline: cfg.Inline, file: cfg.File, interval: cfg.Interval, watch: cfg.Watch, rdb: rdb, log: log, metrics: m}
	if cfg.Inline == "" && cfg.File == "" {
		h.cur.Store(rbac.Unrestricted())
		m.Valid(true)
		return h, nil
	}
	if _, err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Policy returns the policy in force.
func (h *Holder) Policy() *rbac.Policy { return h.cur.Load() }

// Status reports the version in force and the last load error, if the
// newest content is invalid.
func (h *Holder) Status() (version string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur.Load().Version, h.lastErr
}

// Reload reads the policy source again and installs it when its content
// changed and it is valid. It reports whether the policy changed.
func (h *Holder) Reload() (bool, error) { return h.reload(false) }

// Force reloads even when the content is unchanged, replacing the compiled
// policy and with it the decision cache (POST /admin/rbac/reload).
func (h *Holder) Force() (bool, error) { return h.reload(true) }

func (h *Holder) reload(force bool) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var content []byte
	source := "RBAC_POLICY"
	switch {
	case h.inline != "":
		content = []byte(h.inline)
	case h.file != "":
		b, err := os.ReadFile(h.file)
		if err != nil {
			return false, h.failed(fmt.Errorf("reading RBAC_POLICY_FILE: %w", err))
		}
		content, source = b, h.file
	default:
		return false, nil
	}
	if !force && h.cur.Load() != nil && bytes.Equal(content, h.content) {
		if h.lastErr != nil {
			// The source is back to the policy in force after an
			// invalid one: nothing to install, but it is valid again.
			h.lastErr = nil
			h.metrics.Valid(true)
			h.log.Info("rbac policy source valid again; policy in force unchanged", "version", h.cur.Load().Version)
		}
		return false, nil
	}
	p, err := rbac.Parse(content, source)
	if err != nil {
		return false, h.failed(fmt.Errorf("loading policy: %w", err))
	}
	old := h.cur.Load()
	h.cur.Store(p)
	h.content, h.lastErr = content, nil
	h.metrics.Reloaded(true)
	h.metrics.Valid(true)
	if old != nil {
		h.log.Info("rbac policy reloaded", "version", p.Version, "previous", old.Version, "roles", len(p.Roles()))
	} else {
		h.log.Info("rbac policy loaded", "version", p.Version, "source", source, "roles", len(p.Roles()))
	}
	return true, nil
}

func (h *Holder) failed(err error) error {
	if h.cur.Load() == nil {
		return err // at start: refuse to run
	}
	if h.lastErr == nil || h.lastErr.Error() != err.Error() {
		h.log.Error("rbac policy invalid; keeping the last good policy", "version", h.cur.Load().Version, "err", err)
	}
	h.lastErr = err
	h.metrics.Reloaded(false)
	h.metrics.Valid(false)
	return err
}

// Publish tells every pod to reload. Without Redis it is a no-op.
func (h *Holder) Publish(ctx context.Context) (bool, error) {
	if h.rdb == nil {
		return false, nil
	}
	if err := h.rdb.Publish(ctx, Channel, h.cur.Load().Version).Err(); err != nil {
		return false, fmt.Errorf("publishing reload: %w", err)
	}
	return true, nil
}

// Run keeps the policy current until ctx ends.
func (h *Holder) Run(ctx context.Context) error {
	if h.inline == "" && h.file == "" {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if h.file != "" && h.inline == "" {
		if h.watch {
			w, err := fsnotify.NewWatcher()
			if err != nil {
				return fmt.Errorf("watching policy: %w", err)
			}
			// Watch the directory: editors and ConfigMaps replace the
			// file (rename, symlink swap) rather than write it in place.
			if err := w.Add(filepath.Dir(h.file)); err != nil {
				w.Close()
				return fmt.Errorf("watching %s: %w", filepath.Dir(h.file), err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); h.watchLoop(ctx, w) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); h.pollLoop(ctx) }()
	}
	if h.rdb != nil {
		wg.Add(1)
		go func() { defer wg.Done(); h.subscribeLoop(ctx) }()
	}
	<-ctx.Done()
	return nil
}

func (h *Holder) watchLoop(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	base := filepath.Base(h.file)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			name := filepath.Base(ev.Name)
			if name == base || name == "..data" || name == "..data_tmp" {
				// Coalesce the burst of events one replacement makes.
				debounce = time.After(100 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			h.log.Warn("policy watch error; the poll still runs", "err", err)
		case <-debounce:
			h.Reload()
		}
	}
}

func (h *Holder) pollLoop(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Reload()
		}
	}
}

// subscribeLoop reloads on every broadcast. go-redis resubscribes after a
// reconnect and delivers a fresh subscription confirmation, on which we
// reload too: broadcasts sent while we were cut off are not replayed.
func (h *Holder) subscribeLoop(ctx context.Context) {
	ps := h.rdb.Subscribe(ctx, Channel)
	// Receive does not return when ctx ends; closing the subscription
	// does. The closer ends with ctx, and we wait for it.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-ctx.Done()
		ps.Close()
	}()
	defer func() { <-closed }()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// go-redis reconnects on the next Receive; do not spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.Reload()
			}
		case *redis.Message:
			h.Reload()
		}
	}
}
