package neo4jstore

import (
	"context"
	"log/slog"
	"time"
)

// Watch calls changed with the graph version every PollInterval until ctx
// ends, so that a replica sees the ingests of others that share the
// database without Redis; the callback decides whether the version is
// news. A failed read is logged once per outage, not per poll.
func (s *Store) Watch(ctx context.Context, log *slog.Logger, changed func(ctx context.Context, version uint64)) error {
	t := time.NewTicker(s.PollInterval)
	defer t.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v, err := s.version(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			if !down {
				log.Warn("reading the graph version from Neo4j failed; other replicas' changes wait until it answers", "err", err)
				down = true
			}
			continue
		case down:
			log.Info("reading the graph version from Neo4j resumed")
			down = false
		}
		changed(ctx, v)
	}
}
