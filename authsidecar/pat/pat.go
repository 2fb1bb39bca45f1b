// Package pat stores personal access tokens (seeds §12.1): random secrets
// shown once, kept only as their SHA-256 with owner, groups and expiry, in
// Redis (meshq:pat:*) so every pod accepts them, or in memory without
// Redis. Lookups are cached briefly; a revocation reaches other pods within
// CacheTTL.
package pat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/redis/go-redis/v9"
)

// Prefix marks a PAT so the sidecar can tell it from API keys and JWTs.
const Prefix = "mqp_"

// CacheTTL bounds how long a revoked token may still be accepted by a pod
// other than the one that revoked it.
const CacheTTL = 10 * time.Second

// Token is a stored token (never the secret).
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Groups  []string  `json:"groups"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	KeyFP   string    `json:"key_fp"`
	// Issuer is the OIDC issuer of the login that minted the token; a
	// token is only as good as that login. Empty in tokens stored before
	// it was recorded (some minted by API keys): those are refused.
	Issuer string `json:"issuer,omitempty"`
}

// ErrNotFound is returned for unknown, expired or revoked tokens.
var ErrNotFound = errors.New("token not found")

type backend interface {
	put(ctx context.Context, hash string, t Token) error
	get(ctx context.Context, hash string) (Token, error)
	list(ctx context.Context, owner string) ([]Token, error)
	del(ctx context.Context, owner, id string) error
}

// Store is the token store with its lookup cache.
type Store struct {
	b     backend
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	t  Token
	at time.Time
}

// NewRedis stores tokens in Redis.
func NewRedis(rdb *redis.Client) *Store { return newStore(&redisBackend{rdb}) }

// NewMemory stores tokens in this process (lost at restart).
func NewMemory() *Store {
	return newStore(&memBackend{tokens: map[string]Token{}, ids: map[string]string{}})
}

func newStore(b backend) *Store { return &Store{b: b, now: time.Now, cache: map[string]cached{}} }

func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create makes a token for owner, logged in through issuer; the secret is
// returned once.
func (s *Store) Create(ctx context.Context, owner, issuer, name string, groups []string, ttl time.Duration) (string, Token, error) {
	var raw [32]byte
	var id [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("generating token: %w", err)
	}
	rand.Read(id[:])
	secret := Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC().Truncate(time.Second)
	t := Token{ID: hex.EncodeToString(id[:]), Name: name, Owner: owner, Groups: groups, Created: now, Expires: now.Add(ttl),
		KeyFP: audit.Fingerprint(secret), Issuer: issuer}
	if err := s.b.put(ctx, hashOf(secret), t); err != nil {
		return "", Token{}, fmt.Errorf("storing token: %w", err)
	}
	return secret, t, nil
}

// Lookup returns the live token for secret.
func (s *Store) Lookup(ctx context.Context, secret string) (Token, error) {
	h := hashOf(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < CacheTTL {
		if now.After(c.t.Expires) {
			return Token{}, ErrNotFound
		}
		return c.t, nil
	}
	t, err := s.b.get(ctx, h)
	if err != nil {
		return Token{}, err
	}
	if now.After(t.Expires) {
		return Token{}, ErrNotFound
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[h] = cached{t: t, at: now}
	s.mu.Unlock()
	return t, nil
}

// List returns owner's live tokens, newest first.
func (s *Store) List(ctx context.Context, owner string) ([]Token, error) {
	ts, err := s.b.list(ctx, owner)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := ts[:0]
	for _, t := range ts {
		if now.Before(t.Expires) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.After(out[j].Created) || (out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID)
	})
	return out, nil
}

// Revoke deletes owner's token id (ErrNotFound if it is not theirs).
func (s *Store) Revoke(ctx context.Context, owner, id string) error {
	if err := s.b.del(ctx, owner, id); err != nil {
		return err
	}
	s.mu.Lock()
	for h, c := range s.cache {
		if c.t.ID == id {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	return nil
}

type redisBackend struct{ rdb *redis.Client }

func tokKey(hash string) string   { return "meshq:pat:tok:" + hash }
func idKey(id string) string      { return "meshq:pat:id:" + id }
func userKey(owner string) string { return "meshq:pat:user:" + owner }

func (r *redisBackend) put(ctx context.Context, hash string, t Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, tokKey(hash), b, 0)
		p.ExpireAt(ctx, tokKey(hash), t.Expires)
		p.Set(ctx, idKey(t.ID), hash, 0)
		p.ExpireAt(ctx, idKey(t.ID), t.Expires)
		p.SAdd(ctx, userKey(t.Owner), t.ID)
		return nil
	})
	return err
}

func (r *redisBackend) get(ctx context.Context, hash string) (Token, error) {
	b, err := r.rdb.Get(ctx, tokKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("reading token: %w", err)
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, fmt.Errorf("decoding token: %w", err)
	}
	return t, nil
}

func (r *redisBackend) list(ctx context.Context, owner string) ([]Token, error) {
	ids, err := r.rdb.SMembers(ctx, userKey(owner)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	var out []Token
	for _, id := range ids {
		hash, err := r.rdb.Get(ctx, idKey(id)).Result()
		if errors.Is(err, redis.Nil) {
			r.rdb.SRem(ctx, userKey(owner), id) // expired: tidy the index
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		t, err := r.get(ctx, hash)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (r *redisBackend) del(ctx context.Context, owner, id string) error {
	hash, err := r.rdb.Get(ctx, idKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	t, err := r.get(ctx, hash)
	if err != nil {
		return err
	}
	if t.Owner != owner {
		return ErrNotFound // someone else's token: do not reveal it exists
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, tokKey(hash), idKey(id))
		p.SRem(ctx, userKey(owner), id)
		return nil
	})
	return err
}

type memBackend struct {
	mu     sync.Mutex
	tokens map[string]Token  // hash → token
	ids    map[string]string // id → hash
}

func (m *memBackend) put(_ context.Context, hash string, t Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[hash], m.ids[t.ID] = t, hash
	return nil
}

func (m *memBackend) get(_ context.Context, hash string) (Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok {
		return Token{}, ErrNotFound
	}
	return t, nil
}

func (m *memBackend) list(_ context.Context, owner string) ([]Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Token
	for _, t := range m.tokens {
		if t.Owner == owner {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *memBackend) del(_ context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.ids[id]
	if !ok || m.tokens[h].Owner != owner {
		return ErrNotFound
	}
	delete(m.tokens, h)
	delete(m.ids, id)
	return nil
}

// LooksLike reports whether s has the PAT form.
func LooksLike(s string) bool { return strings.HasPrefix(s, Prefix) }
