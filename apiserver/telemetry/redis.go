package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	contract "github.com/meshoptixiq/mesh/common/telemetry"
)

// StreamPrefix is the stream name prefix the agents write to.
const StreamPrefix = contract.StreamPrefix

// Consumer timings.
const (
	blockFor   = time.Second // XREAD BLOCK
	retryAfter = time.Second // after a Redis error
	readCount  = 100         // entries per stream per XREAD
)

// RunRedis consumes every meshq:telemetry:* stream until ctx ends. It reads
// each stream from its start once (the streams are capped, so that rebuilds
// the recent window after a restart) and then follows it. Redis errors are
// logged and retried: a Redis outage never stops the apiserver.
func (s *Service) RunRedis(ctx context.Context, client *redis.Client) error {
	last := map[string]string{}
	var discovered time.Time
	failing := false
	for ctx.Err() == nil {
		if time.Since(discovered) >= s.opts.DiscoverEvery || len(last) == 0 {
			keys, err := scanStreams(ctx, client)
			if err != nil {
				failing = s.redisError(ctx, failing, "listing telemetry streams", err)
				continue
			}
			for _, k := range keys {
				if _, ok := last[k]; !ok {
					last[k] = "0-0"
				}
			}
			discovered = time.Now()
		}
		if len(last) == 0 {
			sleep(ctx, blockFor)
			continue
		}
		args := make([]string, 0, 2*len(last))
		for k := range last {
			args = append(args, k)
		}
		for k := range args {
			args = append(args, last[args[k]])
		}
		res, err := client.XRead(ctx, &redis.XReadArgs{Streams: args, Count: readCount, Block: blockFor}).Result()
		if errors.Is(err, redis.Nil) {
			failing = false
			continue
		}
		if err != nil {
			failing = s.redisError(ctx, failing, "reading telemetry streams", err)
			continue
		}
		if failing {
			s.log.Info("redis telemetry streams readable again")
			failing = false
		}
		for _, st := range res {
			for _, m := range st.Messages {
				last[st.Stream] = m.ID
				raw, ok := m.Values["report"].(string)
				if !ok {
					s.log.Warn("stream entry without a report field", "stream", st.Stream, "id", m.ID)
					continue
				}
				if err := s.IngestJSON([]byte(raw)); err != nil {
					s.log.Warn("rejected report from stream", "stream", st.Stream, "id", m.ID, "err", err)
				}
			}
		}
	}
	return nil
}

// redisError logs the first failure of a run of them and waits before the
// retry.
func (s *Service) redisError(ctx context.Context, failing bool, what string, err error) bool {
	if ctx.Err() != nil {
		return failing
	}
	if !failing {
		s.log.Warn(what, "err", err)
	}
	sleep(ctx, retryAfter)
	return true
}

func scanStreams(ctx context.Context, client *redis.Client) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		batch, next, err := client.ScanType(ctx, cursor, StreamPrefix+"*", 256, "stream").Result()
		if err != nil {
			return nil, err
		}
		keys = append(keys, batch...)
		if next == 0 {
			return keys, nil
		}
		cursor = next
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
