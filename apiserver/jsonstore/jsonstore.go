// Package jsonstore keeps JSON records by id for a while: in Redis when the
// apiserver has one, so that every replica answers for a record another
// wrote, else in memory, encoded the same way so that both answer alike.
// Chaos results and conversation sessions live in it.
package jsonstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps records of type T under prefix+id for ttl after each Put.
type Store[T any] struct {
	rdb    *redis.Client // nil: memory
	prefix string
	ttl    time.Duration

	mu  sync.Mutex
	mem map[string]entry
}

type entry struct {
	b       []byte
	expires time.Time
}

// New returns a store in rdb (nil: in memory).
func New[T any](rdb *redis.Client, prefix string, ttl time.Duration) *Store[T] {
	return &Store[T]{rdb: rdb, prefix: prefix, ttl: ttl, mem: map[string]entry{}}
}

// Put stores v under id, restarting its time to live.
func (s *Store[T]) Put(ctx context.Context, id string, v *T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if s.rdb != nil {
		return s.rdb.Set(ctx, s.prefix+id, b, s.ttl).Err()
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.mem { // expired records go as new ones come
		if now.After(e.expires) {
			delete(s.mem, k)
		}
	}
	s.mem[id] = entry{b: b, expires: now.Add(s.ttl)}
	return nil
}

// Get returns the record under id; false when there is none or it expired.
func (s *Store[T]) Get(ctx context.Context, id string) (*T, bool, error) {
	var b []byte
	if s.rdb != nil {
		var err error
		b, err = s.rdb.Get(ctx, s.prefix+id).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	} else {
		s.mu.Lock()
		e, ok := s.mem[id]
		s.mu.Unlock()
		if !ok || time.Now().After(e.expires) {
			return nil, false, nil
		}
		b = e.b
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false, fmt.Errorf("decoding %s%s: %w", s.prefix, id, err)
	}
	return &v, true, nil
}
