package postgres

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Watch calls changed with the graph version another writer (or this one)
// committed, until ctx ends: on each NOTIFY of channel meshq_graph, on
// every (re)connection of the listening connection (a change made while it
// was down), and every PollInterval (a notification lost with a
// connection). The callback decides whether the version is news; it runs
// on one goroutine at a time.
func (s *Store) Watch(ctx context.Context, log *slog.Logger, changed func(ctx context.Context, version uint64)) error {
	versions := make(chan uint64, 1)
	offer := func(v uint64) {
		// Only the newest version matters: replace a pending one.
		select {
		case <-versions:
		default:
		}
		versions <- v
	}
	go s.listen(ctx, log, offer)
	go func() {
		t := time.NewTicker(s.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if v, err := s.Version(ctx); err == nil {
				offer(v)
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case v := <-versions:
			changed(ctx, v)
		}
	}
}

// listen keeps one connection LISTENing, reconnecting with backoff.
func (s *Store) listen(ctx context.Context, log *slog.Logger, offer func(uint64)) {
	backoff := 100 * time.Millisecond
	down := false
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, func() {
			backoff = 100 * time.Millisecond
			if down {
				log.Info("graph change notifications from PostgreSQL resumed")
				down = false
			}
		}, offer)
		if ctx.Err() != nil {
			return
		}
		if !down {
			log.Warn("graph change notifications from PostgreSQL lost; reconnecting", "err", classify(err))
			down = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, connected func(), offer func(uint64)) error {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	connected()
	// Changes committed while no connection listened.
	if v, err := s.Version(ctx); err == nil {
		offer(v)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if v, err := strconv.ParseUint(n.Payload, 10, 64); err == nil {
			offer(v)
		}
	}
}
