package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// KeySet is the issuer's JWKS as go-oidc's KeySet: fetched once, cached for
// TTL (1 h), refetched when a token names an unknown kid — single-flight,
// at most once per Cooldown (30 s), unknown kids remembered for Cooldown —
// and the last good keys kept when the IdP cannot be reached. go-oidc's
// RemoteKeySet refetches on every unknown kid without a cooldown and has no
// TTL, hence this type.
type KeySet struct {
	url    string
	client *http.Client
	log    *slog.Logger
	algs   []jose.SignatureAlgorithm

	// Tunables (fixed in production; tests shorten them).
	TTL      time.Duration
	Cooldown time.Duration
	Now      func() time.Time
	// OnFetch is told about every fetch attempt (metrics).
	OnFetch func(err error)

	sf          singleflight.Group
	mu          sync.Mutex
	keys        []jose.JSONWebKey
	fetchedAt   time.Time
	lastAttempt time.Time
	lastErr     error
	unknown     map[string]time.Time
}

// maxUnknownKids bounds the memory of unknown kids a client can make us keep.
const maxUnknownKids = 1024

// NewKeySet returns a key set for jwksURL that accepts only algs.
func NewKeySet(jwksURL string, algs []string, client *http.Client, log *slog.Logger) *KeySet {
	ks := &KeySet{url: jwksURL, client: client, log: log, TTL: time.Hour, Cooldown: 30 * time.Second,
		Now: time.Now, unknown: map[string]time.Time{}}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// Fetched reports whether keys have ever been fetched, when, and the last
// fetch error (nil after a success).
func (ks *KeySet) Fetched() (bool, time.Time, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.keys != nil, ks.fetchedAt, ks.lastErr
}

// Refresh fetches the JWKS now (single-flight). On failure the previous
// keys stay in use.
func (ks *KeySet) Refresh(ctx context.Context) error {
	_, err, _ := ks.sf.Do("jwks", func() (any, error) {
		// Detached from the caller: one cancelled request must not fail
		// the fetch every waiting request shares.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		ks.mu.Lock()
		ks.lastAttempt = ks.Now()
		ks.mu.Unlock()
		keys, err := ks.fetch(fctx)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.OnFetch != nil {
			ks.OnFetch(err)
		}
		if err != nil {
			ks.lastErr = err
			if ks.keys != nil {
				ks.log.Warn("jwks refresh failed; keeping the last good keys", "url", ks.url, "err", err, "keys", len(ks.keys))
			}
			return nil, err
		}
		ks.keys, ks.fetchedAt, ks.lastErr = keys, ks.Now(), nil
		clear(ks.unknown)
		ks.log.Info("jwks fetched", "url", ks.url, "keys", len(keys))
		return nil, nil
	})
	return err
}

func (ks *KeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading jwks: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	// Only public asymmetric signing keys: a symmetric key published by
	// mistake must never become an HMAC secret anyone can read.
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks has no public signing keys")
	}
	return keys, nil
}

// ErrUnknownKID means the token names a key the issuer does not publish.
var ErrUnknownKID = errors.New("token signed with an unknown key id")

// VerifySignature implements oidc.KeySet.
func (ks *KeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("parsing jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must carry exactly one signature")
	}
	hdr := jws.Signatures[0].Header
	ks.mu.Lock()
	stale := ks.keys == nil || ks.Now().Sub(ks.fetchedAt) > ks.TTL
	coolingDown := ks.Now().Sub(ks.lastAttempt) < ks.Cooldown
	ks.mu.Unlock()
	if stale && !coolingDown {
		_ = ks.Refresh(ctx) // failure: keep using the last good keys
	}
	cands, known := ks.candidates(hdr.KeyID, hdr.Algorithm)
	if !known {
		if !ks.shouldRefetch(hdr.KeyID) {
			return nil, ErrUnknownKID
		}
		_ = ks.Refresh(ctx)
		cands, known = ks.candidates(hdr.KeyID, hdr.Algorithm)
		if !known {
			ks.rememberUnknown(hdr.KeyID)
			return nil, ErrUnknownKID
		}
	}
	for i := range cands {
		if payload, err := jws.Verify(&cands[i]); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("signature does not verify")
}

// candidates returns the keys that may have signed a token with kid and
// alg; known is false when kid names no published key.
func (ks *KeySet) candidates(kid, alg string) ([]jose.JSONWebKey, bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var out []jose.JSONWebKey
	for _, k := range ks.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		out = append(out, k)
	}
	if kid == "" {
		return out, true
	}
	return out, len(out) > 0
}

// shouldRefetch decides whether an unknown kid may trigger a fetch: not
// when it was seen unknown recently, and not within Cooldown of the last
// fetch attempt.
func (ks *KeySet) shouldRefetch(kid string) bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.Now()
	if at, ok := ks.unknown[kid]; ok && now.Sub(at) < ks.Cooldown {
		return false
	}
	return now.Sub(ks.lastAttempt) >= ks.Cooldown
}

func (ks *KeySet) rememberUnknown(kid string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.Now()
	if len(ks.unknown) >= maxUnknownKids {
		for k, at := range ks.unknown {
			if now.Sub(at) >= ks.Cooldown {
				delete(ks.unknown, k)
			}
		}
		if len(ks.unknown) >= maxUnknownKids {
			clear(ks.unknown)
		}
	}
	ks.unknown[kid] = now
}
