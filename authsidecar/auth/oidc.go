package auth

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

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/meshoptixiq/mesh/common/audit"
)

// OIDCConfig configures bearer-token verification.
type OIDCConfig struct {
	Issuer        string
	ClientID      string
	GroupsClaim   string // dotted path, e.g. "groups" or "realm_access.roles"
	ClockSkew     time.Duration
	MaxTokenBytes int
}

// Reasons a bearer token is refused; they are safe to show a client and
// are used as metric labels.
const (
	ReasonOversized     = "token_too_large"
	ReasonMalformed     = "malformed_token"
	ReasonSignature     = "bad_signature"
	ReasonUnknownKID    = "unknown_key_id"
	ReasonIssuer        = "wrong_issuer"
	ReasonAudience      = "wrong_audience"
	ReasonExpired       = "token_expired"
	ReasonNotYetValid   = "token_not_yet_valid"
	ReasonIssuedFuture  = "token_issued_in_future"
	ReasonGroupOverage  = "group_overage"
	ReasonGroupsClaim   = "bad_groups_claim"
	ReasonIdPUnavailble = "idp_unavailable"
)

// TokenError is a refused token with its reason.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// OIDC verifies bearer JWTs from one issuer. Until discovery and the first
// JWKS fetch succeed (Run keeps trying), tokens are refused with
// ReasonIdPUnavailble so the sidecar answers 503 rather than 401.
type OIDC struct {
	cfg    OIDCConfig
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
	verifier *oidc.IDTokenVerifier
	keys     *KeySet
	algs     []string
}

type cachedToken struct {
	id  Identity
	exp time.Time
	nbf time.Time
}

// NewOIDC returns a verifier; call Run to discover the issuer.
func NewOIDC(cfg OIDCConfig, client *http.Client, log *slog.Logger) *OIDC {
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	return &OIDC{cfg: cfg, client: client, log: log, now: time.Now, cache: map[string]cachedToken{}, maxCache: 10000}
}

type discovery struct {
	Issuer  string   `json:"issuer"`
	JWKSURI string   `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

var asymmetric = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

// Discover fetches the issuer's configuration and its keys once.
func (o *OIDC) Discover(ctx context.Context) error {
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
	v := oidc.NewVerifier(o.cfg.Issuer, ks, &oidc.Config{
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
func (o *OIDC) Run(ctx context.Context) error {
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
func (o *OIDC) Ready() (bool, string) {
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
func (o *OIDC) Verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > o.cfg.MaxTokenBytes {
		return Identity{}, &TokenError{ReasonOversized, fmt.Errorf("token is %d bytes, limit %d", len(raw), o.cfg.MaxTokenBytes)}
	}
	now := o.now()
	o.cacheMu.RLock()
	c, ok := o.cache[raw]
	o.cacheMu.RUnlock()
	if ok {
		if err := o.checkTimes(now, c.exp, c.nbf, time.Time{}); err != nil {
			return Identity{}, err
		}
		return c.id, nil
	}
	st := o.ready.Load()
	if st == nil {
		return Identity{}, &TokenError{ReasonIdPUnavailble, errors.New("identity provider not reachable yet")}
	}
	tok, err := st.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, classify(err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, &TokenError{ReasonMalformed, err}
	}
	exp, okExp := numericDate(claims["exp"])
	if !okExp {
		return Identity{}, &TokenError{ReasonMalformed, errors.New("token has no exp")}
	}
	nbf, _ := numericDate(claims["nbf"])
	iat, _ := numericDate(claims["iat"])
	if err := o.checkTimes(now, exp, nbf, iat); err != nil {
		return Identity{}, err
	}
	groups, err := o.groups(claims)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{User: userOf(claims), Method: MethodOIDC, KeyFP: audit.Fingerprint(raw), Groups: groups}
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

func (o *OIDC) checkTimes(now, exp, nbf, iat time.Time) error {
	skew := o.cfg.ClockSkew
	if now.After(exp.Add(skew)) {
		return &TokenError{ReasonExpired, fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339))}
	}
	if !nbf.IsZero() && nbf.After(now.Add(skew)) {
		return &TokenError{ReasonNotYetValid, fmt.Errorf("not valid before %s", nbf.UTC().Format(time.RFC3339))}
	}
	if !iat.IsZero() && iat.After(now.Add(skew)) {
		return &TokenError{ReasonIssuedFuture, fmt.Errorf("issued at %s", iat.UTC().Format(time.RFC3339))}
	}
	return nil
}

func (o *OIDC) groups(claims map[string]any) ([]string, error) {
	// Azure AD replaces the groups claim with a pointer to Graph when a
	// user is in too many groups. Treating that as "no groups" would
	// silently demote (or, with deny rules, promote) the user: refuse.
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		if _, over := names["groups"]; over {
			return nil, &TokenError{ReasonGroupOverage, errors.New("token has group overage (_claim_names.groups): the IdP must emit groups in the token (e.g. Azure AD: assign groups to the app or filter groups)")}
		}
		if _, over := names[o.cfg.GroupsClaim]; over {
			return nil, &TokenError{ReasonGroupOverage, fmt.Errorf("token has overage for claim %q", o.cfg.GroupsClaim)}
		}
	}
	if has, ok := claims["hasgroups"].(bool); ok && has {
		return nil, &TokenError{ReasonGroupOverage, errors.New("token has group overage (hasgroups)")}
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
				return nil, &TokenError{ReasonGroupsClaim, fmt.Errorf("claim %q holds a non-string", o.cfg.GroupsClaim)}
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, &TokenError{ReasonGroupsClaim, fmt.Errorf("claim %q is not a list of strings", o.cfg.GroupsClaim)}
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

func classify(err error) *TokenError {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrUnknownKID):
		return &TokenError{ReasonUnknownKID, err}
	case strings.Contains(msg, "issued by a different provider"):
		return &TokenError{ReasonIssuer, err}
	case strings.Contains(msg, "expected audience"):
		return &TokenError{ReasonAudience, err}
	case strings.Contains(msg, "failed to verify signature"):
		if strings.Contains(msg, ErrUnknownKID.Error()) {
			return &TokenError{ReasonUnknownKID, err}
		}
		return &TokenError{ReasonSignature, err}
	}
	return &TokenError{ReasonMalformed, err}
}
