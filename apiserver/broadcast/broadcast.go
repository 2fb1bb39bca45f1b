// Package broadcast tells other apiserver replicas that the graph changed,
// over the Redis channel meshq:graph_changed, and hears them tell it. A
// message carries the new version and its sender; receivers reload from
// the store when the version is newer than theirs.
package broadcast

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the Redis channel of graph changes.
const Channel = "meshq:graph_changed"

// Message is what is published on Channel.
type Message struct {
	Origin  string `json:"origin"`
	Version uint64 `json:"version"`
}

// Broadcaster publishes this replica's changes and delivers the others'.
type Broadcaster struct {
	client  *redis.Client
	origin  string
	log     *slog.Logger
	pending chan uint64
}

// New connects to url (redis://…); it does not dial until first use.
func New(url string, log *slog.Logger) (*Broadcaster, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Broadcaster{
		client:  redis.NewClient(opt),
		origin:  hex.EncodeToString(id[:]),
		log:     log.With("component", "broadcast"),
		pending: make(chan uint64, 1),
	}, nil
}

// Origin identifies this replica in messages.
func (b *Broadcaster) Origin() string { return b.origin }

// Ping checks Redis.
func (b *Broadcaster) Ping(ctx context.Context) error { return b.client.Ping(ctx).Err() }

// Close releases the connection pool.
func (b *Broadcaster) Close() error { return b.client.Close() }

// Notify queues version for publishing without blocking: when several
// changes happen before the publisher runs, only the latest is sent, which
// is all a receiver needs.
func (b *Broadcaster) Notify(version uint64) {
	for {
		select {
		case b.pending <- version:
			return
		default:
		}
		select {
		case old := <-b.pending:
			version = max(version, old)
		default:
		}
	}
}

// Publish sends version now.
func (b *Broadcaster) Publish(ctx context.Context, version uint64) error {
	msg, _ := json.Marshal(Message{Origin: b.origin, Version: version})
	if err := b.client.Publish(ctx, Channel, msg).Err(); err != nil {
		return fmt.Errorf("publishing on %s: %w", Channel, err)
	}
	return nil
}

// RunPublisher publishes queued versions until ctx ends. A failed publish
// is logged and dropped: replicas also catch up on their next change.
func (b *Broadcaster) RunPublisher(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case v := <-b.pending:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := b.Publish(pctx, v); err != nil {
				b.log.Warn("graph change not broadcast", "graph_version", v, "err", err)
			}
			cancel()
		}
	}
}

// RunSubscriber delivers other replicas' changes to onChange until ctx
// ends. go-redis resubscribes by itself after a connection loss.
func (b *Broadcaster) RunSubscriber(ctx context.Context, onChange func(ctx context.Context, version uint64)) error {
	sub := b.client.Subscribe(ctx, Channel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			var msg Message
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				b.log.Warn("ignoring malformed message", "channel", Channel, "err", err)
				continue
			}
			if msg.Origin == b.origin {
				continue
			}
			onChange(ctx, msg.Version)
		}
	}
}

// Subscribers returns how many clients listen on Channel (all replicas'
// subscriptions, this one's included).
func (b *Broadcaster) Subscribers(ctx context.Context) (int64, error) {
	m, err := b.client.PubSubNumSub(ctx, Channel).Result()
	if err != nil {
		return 0, fmt.Errorf("counting subscribers of %s: %w", Channel, err)
	}
	return m[Channel], nil
}
