// Package oidc verifies the OIDC bearer JWTs the authsidecar accepts
// (AUTH_MODE=oidc|both) with coreos/go-oidc over a caching, rate-limited
// key set. It is enterprise code: the standard build of the sidecar does
// not link it.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/common/audit"
)

// Config configures bearer-token verification.
type Config struct {
	Issuer        string
	ClientID      string
	GroupsClaim   string // dotted path, e.g. "groups" or "realm_access.roles"
	ClockSkew     time.Duration
	MaxTokenBytes int
}

// Verifier verifies bearer JWTs from one issuer. Until discovery and the first
// JWKS fetch succeed (Run keeps trying), tokens are refused with
// auth.ReasonIdPUnavailble so the sidecar answers 503 rather than 401.
type Verifier struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	// KeySetTuning, when set, is applied to the key set after discovery
	// (tests shorten TTL and cooldown).
	KeySetTuning func(*KeySet)
	// OnFetch is told about every JWKS fetch attempt (metrics).
	OnFetch func(err error)

	ready    atomic.Pointer[verifierState]
	cacheMu  sync.RWMutex
	cache    map[string]cachedToken
	maxCache int
}

type verifierState struct {
	verifier *gooidc.IDTokenVerifier
	keys     *KeySet
	algs     []string
}

type cachedToken struct {
	id  auth.Identity
	exp time.Time
	nbf time.Time
}

// New returns a verifier; call Run to discover the issuer.
func New(cfg Config, client *http.Client, log *slog.Logger) *Verifier {
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	return &Verifier{cfg: cfg, client: client, log: log, now: time.Now, cache: map[string]cachedToken{}, maxCache: 10000}
}

type discovery struct {
	Issuer  string   `json:"issuer"`
	JWKSURI string   `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

var asymmetric = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

// Discover fetches the issuer's configuration and its keys once.
func (o *Verifier) Discover(ctx context.Context) error {
	u := strings.TrimSuffix(o.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: status %d, %v", resp.StatusCode, err)
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("discovery: decoding: %w", err)
	}
	if d.Issuer != o.cfg.Issuer {
		return fmt.Errorf("discovery: issuer is %q, OIDC_ISSUER is %q (they must match exactly)", d.Issuer, o.cfg.Issuer)
	}
	if d.JWKSURI == "" {
		return errors.New("discovery: no jwks_uri")
	}
	// Pin to the asymmetric algorithms the issuer advertises: never
	// "none", never HMAC (whose secret would be the public key).
	var algs []string
	for _, a := range d.Algs {
		if asymmetric[a] {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		if len(d.Algs) > 0 {
			return fmt.Errorf("discovery: issuer advertises no asymmetric signing algorithm (%v)", d.Algs)
		}
		algs = []string{"RS256"} // the OIDC default when none is advertised
	}
	ks := NewKeySet(d.JWKSURI, algs, o.client, o.log)
	ks.OnFetch = o.OnFetch
	if o.KeySetTuning != nil {
		o.KeySetTuning(ks)
	}
	if err := ks.Refresh(ctx); err != nil {
		return err
	}
	v := gooidc.NewVerifier(o.cfg.Issuer, ks, &gooidc.Config{
		ClientID:             o.cfg.ClientID,
		SupportedSigningAlgs: algs,
		// exp, nbf and iat are checked below with OIDC_CLOCK_SKEW; go-oidc
		// applies none to exp and a fixed 5 minutes to nbf.
		SkipExpiryCheck: true,
	})
	o.ready.Store(&verifierState{verifier: v, keys: ks, algs: algs})
	o.log.Info("oidc issuer discovered", "issuer", o.cfg.Issuer, "jwks_uri", d.JWKSURI, "algs", algs)
	return nil
}

// Run discovers the issuer, retrying with backoff until it succeeds, then
// refreshes the keys every TTL so the cache is renewed before it expires.
func (o *Verifier) Run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for o.ready.Load() == nil {
		err := o.Discover(ctx)
		if err == nil {
			break
		}
		o.log.Warn("oidc discovery failed; retrying", "issuer", o.cfg.Issuer, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	st := o.ready.Load()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(st.keys.TTL):
			_ = st.keys.Refresh(ctx) // logged inside; last good keys kept
		}
	}
}

// Ready reports whether the issuer's keys have been fetched, for /readyz.
func (o *Verifier) Ready() (bool, string) {
	st := o.ready.Load()
	if st == nil {
		return false, "issuer not discovered yet"
	}
	ok, at, err := st.keys.Fetched()
	if !ok {
		return false, "jwks never fetched"
	}
	if err != nil {
		return true, fmt.Sprintf("serving keys fetched at %s; last refresh failed: %v", at.UTC().Format(time.RFC3339), err)
	}
	return true, "jwks fetched at " + at.UTC().Format(time.RFC3339)
}

// Verify checks a bearer JWT and returns the caller. Verified tokens are
// cached until they expire, so the signature is checked once per token.
func (o *Verifier) Verify(ctx context.Context, raw string) (auth.Identity, error) {
	if len(raw) > o.cfg.MaxTokenBytes {
		return auth.Identity{}, refuse(auth.ReasonOversized, fmt.Errorf("token is %d bytes, limit %d", len(raw), o.cfg.MaxTokenBytes))
	}
	now := o.now()
	o.cacheMu.RLock()
	c, ok := o.cache[raw]
	o.cacheMu.RUnlock()
	if ok {
		if err := o.checkTimes(now, c.exp, c.nbf, time.Time{}); err != nil {
			return auth.Identity{}, err
		}
		return c.id, nil
	}
	st := o.ready.Load()
	if st == nil {
		return auth.Identity{}, refuse(auth.ReasonIdPUnavailble, errors.New("identity provider not reachable yet"))
	}
	tok, err := st.verifier.Verify(ctx, raw)
	if err != nil {
		return auth.Identity{}, classify(err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return auth.Identity{}, refuse(auth.ReasonMalformed, err)
	}
	exp, okExp := numericDate(claims["exp"])
	if !okExp {
		return auth.Identity{}, refuse(auth.ReasonMalformed, errors.New("token has no exp"))
	}
	nbf, _ := numericDate(claims["nbf"])
	iat, _ := numericDate(claims["iat"])
	if err := o.checkTimes(now, exp, nbf, iat); err != nil {
		return auth.Identity{}, err
	}
	groups, err := o.groups(claims)
	if err != nil {
		return auth.Identity{}, err
	}
	id := auth.Identity{User: userOf(claims), Method: auth.MethodOIDC, KeyFP: audit.Fingerprint(raw), Groups: groups}
	o.cacheMu.Lock()
	if len(o.cache) >= o.maxCache {
		for k, v := range o.cache {
			if now.After(v.exp.Add(o.cfg.ClockSkew)) {
				delete(o.cache, k)
			}
		}
		if len(o.cache) >= o.maxCache {
			clear(o.cache)
		}
	}
	o.cache[raw] = cachedToken{id: id, exp: exp, nbf: nbf}
	o.cacheMu.Unlock()
	id.Fresh = true
	return id, nil
}

func (o *Verifier) checkTimes(now, exp, nbf, iat time.Time) error {
	skew := o.cfg.ClockSkew
	if now.After(exp.Add(skew)) {
		return refuse(auth.ReasonExpired, fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339)))
	}
	if !nbf.IsZero() && nbf.After(now.Add(skew)) {
		return refuse(auth.ReasonNotYetValid, fmt.Errorf("not valid before %s", nbf.UTC().Format(time.RFC3339)))
	}
	if !iat.IsZero() && iat.After(now.Add(skew)) {
		return refuse(auth.ReasonIssuedFuture, fmt.Errorf("issued at %s", iat.UTC().Format(time.RFC3339)))
	}
	return nil
}

func (o *Verifier) groups(claims map[string]any) ([]string, error) {
	// Azure AD replaces the groups claim with a pointer to Graph when a
	// user is in too many groups. Treating that as "no groups" would
	// silently demote (or, with deny rules, promote) the user: refuse.
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		if _, over := names["groups"]; over {
			return nil, refuse(auth.ReasonGroupOverage, errors.New("token has group overage (_claim_names.groups): the IdP must emit groups in the token (e.g. Azure AD: assign groups to the app or filter groups)"))
		}
		if _, over := names[o.cfg.GroupsClaim]; over {
			return nil, refuse(auth.ReasonGroupOverage, fmt.Errorf("token has overage for claim %q", o.cfg.GroupsClaim))
		}
	}
	if has, ok := claims["hasgroups"].(bool); ok && has {
		return nil, refuse(auth.ReasonGroupOverage, errors.New("token has group overage (hasgroups)"))
	}
	var v any = claims
	for _, part := range strings.Split(o.cfg.GroupsClaim, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[part]; !ok {
			return nil, nil
		}
	}
	switch g := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{g}, nil
	case []any:
		out := make([]string, 0, len(g))
		for _, item := range g {
			s, ok := item.(string)
			if !ok {
				return nil, refuse(auth.ReasonGroupsClaim, fmt.Errorf("claim %q holds a non-string", o.cfg.GroupsClaim))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, refuse(auth.ReasonGroupsClaim, fmt.Errorf("claim %q is not a list of strings", o.cfg.GroupsClaim))
}

func userOf(claims map[string]any) string {
	for _, k := range []string{"preferred_username", "email", "sub"} {
		if s, ok := claims[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

func refuse(reason string, err error) *auth.TokenError {
	return &auth.TokenError{Reason: reason, Err: err}
}

func classify(err error) *auth.TokenError {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrUnknownKID):
		return refuse(auth.ReasonUnknownKID, err)
	case strings.Contains(msg, "issued by a different provider"):
		return refuse(auth.ReasonIssuer, err)
	case strings.Contains(msg, "expected audience"):
		return refuse(auth.ReasonAudience, err)
	case strings.Contains(msg, "failed to verify signature"):
		if strings.Contains(msg, ErrUnknownKID.Error()) {
			return refuse(auth.ReasonUnknownKID, err)
		}
		return refuse(auth.ReasonSignature, err)
	}
	return refuse(auth.ReasonMalformed, err)
}
