package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/testidp"
)

const aud = "meshq-sidecar"

func startIdP(t *testing.T) *testidp.IdP {
	t.Helper()
	idp, err := testidp.Start(aud)
	if err != nil {
		t.Fatalf("starting the OpenID provider: %v", err)
	}
	t.Cleanup(idp.Stop)
	idp.AddUser(testidp.User{ID: "alice", Secret: "alice-secret", Claims: map[string]any{
		"preferred_username": "alice@example.com", "groups": []any{"network-ops-team", "noc-helpdesk"}}})
	idp.AddUser(testidp.User{ID: "overage", Secret: "s", Claims: map[string]any{
		"_claim_names":   map[string]any{"groups": "src1"},
		"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}})
	return idp
}

func newVerifier(t *testing.T, idp *testidp.IdP, tune func(*KeySet)) *Verifier {
	t.Helper()
	o := New(Config{Issuer: idp.Issuer, ClientID: aud, ClockSkew: 60 * time.Second, MaxTokenBytes: 16 << 10},
		&http.Client{Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	o.KeySetTuning = tune
	if err := o.Discover(context.Background()); err != nil {
		t.Fatalf("Discover(%s) = %v", idp.Issuer, err)
	}
	return o
}

func token(t *testing.T, idp *testidp.IdP, user string) string {
	t.Helper()
	tok, err := idp.Token(context.Background(), user)
	if err != nil {
		t.Fatalf("Token(%s) = %v", user, err)
	}
	return tok
}

func reason(err error) string {
	var te *auth.TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	if err == nil {
		return ""
	}
	return "untyped: " + err.Error()
}

func TestOIDCVerifiesProviderTokens(t *testing.T) {
	idp := startIdP(t)
	o := newVerifier(t, idp, nil)
	tok := token(t, idp, "alice")
	id, err := o.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify(alice's token) = %v", err)
	}
	want := auth.Identity{User: "alice@example.com", Method: auth.MethodOIDC, KeyFP: id.KeyFP, Groups: []string{"network-ops-team", "noc-helpdesk"}, Fresh: true}
	if diff := cmp.Diff(want, id); diff != "" || !strings.HasPrefix(id.KeyFP, "sha256:") {
		t.Errorf("Verify identity mismatch (-want +got):\n%s (fp %q)", diff, id.KeyFP)
	}
	// Second check is served from the cache and gives the same answer.
	id2, err := o.Verify(context.Background(), tok)
	if err != nil || id2.User != id.User || id2.Fresh {
		t.Errorf("cached Verify = %+v, %v; want %+v", id2, err, id)
	}
}

// TestOIDCSecurityMatrix forges every kind of bad token and checks each is
// refused for the right reason.
func TestOIDCSecurityMatrix(t *testing.T) {
	idp := startIdP(t)
	o := newVerifier(t, idp, func(ks *KeySet) { ks.Cooldown = 0 })
	key := idp.CurrentKey()
	now := time.Now()
	base := func() map[string]any {
		return map[string]any{"iss": idp.Issuer, "aud": aud, "sub": "mallory", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "groups": []any{"platform-admins"}}
	}
	with := func(k string, v any) map[string]any { c := base(); c[k] = v; return c }
	sign := func(claims map[string]any) string {
		s, err := testidp.Sign(key.Private, jose.RS256, key.ID, claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(base())
	if _, err := o.Verify(context.Background(), good); err != nil {
		t.Fatalf("control: Verify(well-formed token signed by the IdP key) = %v", err)
	}
	// alg none: header {"alg":"none"}, no signature.
	b64 := base64.RawURLEncoding.EncodeToString
	payload := strings.Split(good, ".")[1]
	algNone := b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+key.ID+`"}`)) + "." + payload + "."
	// HS256 keyed with the RSA public key's bytes (the classic confusion).
	pubJWK := jose.JSONWebKey{Key: &key.Private.PublicKey}
	pubJSON, _ := pubJWK.MarshalJSON()
	hs, err := testidp.Sign(pubJSON, jose.HS256, key.ID, base())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	unknownKid, _ := testidp.Sign(other, jose.RS256, "not-a-published-kid", base())
	wrongKeySameKid, _ := testidp.Sign(other, jose.RS256, key.ID, base())
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	// Swap one character for another valid base64url character, so the
	// signature still decodes and only its value is wrong.
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	tamperedPayload := parts[0] + "." + b64([]byte(strings.Replace(string(mustDecode(t, parts[1])), "platform-admins", "platform-admin5", 1))) + "." + parts[2]

	cases := []struct {
		name, tok, want string
	}{
		{"alg none", algNone, auth.ReasonMalformed},
		{"HS256 with the RSA public key", hs, auth.ReasonMalformed},
		{"expired beyond skew", sign(with("exp", now.Add(-2*time.Minute).Unix())), auth.ReasonExpired},
		{"not yet valid beyond skew", sign(with("nbf", now.Add(5*time.Minute).Unix())), auth.ReasonNotYetValid},
		{"issued in the future", sign(with("iat", now.Add(5*time.Minute).Unix())), auth.ReasonIssuedFuture},
		{"wrong issuer", sign(with("iss", "https://evil.example.com")), auth.ReasonIssuer},
		{"issuer with trailing slash", sign(with("iss", idp.Issuer+"/")), auth.ReasonIssuer},
		{"wrong audience", sign(with("aud", "someone-else")), auth.ReasonAudience},
		{"unknown kid", unknownKid, auth.ReasonUnknownKID},
		{"right kid, wrong key", wrongKeySameKid, auth.ReasonSignature},
		{"tampered signature", tampered, auth.ReasonSignature},
		{"tampered payload", tamperedPayload, auth.ReasonSignature},
		{"oversized", sign(with("pad", strings.Repeat("x", 20<<10))), auth.ReasonOversized},
		{"groups not strings", sign(with("groups", []any{1, 2})), auth.ReasonGroupsClaim},
		{"not a jwt", "hello", auth.ReasonMalformed},
		{"no exp", sign(with("exp", nil)), auth.ReasonMalformed},
	}
	for _, c := range cases {
		_, err := o.Verify(context.Background(), c.tok)
		if got := reason(err); got != c.want {
			t.Errorf("%s: Verify reason = %q (%v), want %q", c.name, got, err, c.want)
		}
	}
	// Within the skew, an expired / not-yet-valid token is still accepted.
	for _, claims := range []map[string]any{with("exp", now.Add(-30*time.Second).Unix()), with("nbf", now.Add(30*time.Second).Unix())} {
		if _, err := o.Verify(context.Background(), sign(claims)); err != nil {
			t.Errorf("Verify(within 60s skew, %v) = %v, want accepted", claims, err)
		}
	}
	// The overage token, issued by the provider itself.
	_, err = o.Verify(context.Background(), token(t, idp, "overage"))
	if got := reason(err); got != auth.ReasonGroupOverage {
		t.Errorf("Verify(overage token from the IdP) reason = %q (%v), want %q", got, err, auth.ReasonGroupOverage)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOIDCKeyRotation: the provider rotates its key mid-test; a token with
// the new kid triggers one refetch and verifies; old tokens keep working
// while the old key is published; unknown kids are rate limited; with the
// IdP down the last good keys keep serving.
func TestOIDCKeyRotation(t *testing.T) {
	idp := startIdP(t)
	var fetches int
	fakeNow := time.Now()
	clock := func() time.Time { return fakeNow }
	o := newVerifier(t, idp, func(ks *KeySet) { ks.Now = clock })
	st := o.ready.Load()
	st.keys.OnFetch = func(error) { fetches++ }
	old := token(t, idp, "alice")
	if _, err := o.Verify(context.Background(), old); err != nil {
		t.Fatalf("Verify(token before rotation) = %v", err)
	}
	if _, err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh := token(t, idp, "alice")
	// Within the 30 s cooldown of the discovery fetch: refused, no fetch.
	if _, err := o.Verify(context.Background(), fresh); reason(err) != auth.ReasonUnknownKID || fetches != 0 {
		t.Fatalf("Verify(new kid within cooldown) = %v with %d fetches, want %s and 0 fetches", err, fetches, auth.ReasonUnknownKID)
	}
	fakeNow = fakeNow.Add(31 * time.Second)
	if _, err := o.Verify(context.Background(), fresh); err != nil || fetches != 1 {
		t.Fatalf("Verify(new kid after cooldown) = %v with %d fetches, want nil and 1 fetch", err, fetches)
	}
	// A second token with the same new key needs no fetch.
	if _, err := o.Verify(context.Background(), token(t, idp, "alice")); err != nil || fetches != 1 {
		t.Errorf("Verify(another new-key token) = %v with %d fetches, want nil and 1", err, fetches)
	}
	// Many concurrent unknown kids after the cooldown: one fetch.
	fakeNow = fakeNow.Add(31 * time.Second)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	errc := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			tok, _ := testidp.Sign(other, jose.RS256, "ghost", map[string]any{"iss": idp.Issuer, "aud": aud, "exp": time.Now().Add(time.Hour).Unix()})
			_, err := o.Verify(context.Background(), tok)
			errc <- err
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errc; reason(err) != auth.ReasonUnknownKID {
			t.Errorf("Verify(ghost kid) = %v, want %s", err, auth.ReasonUnknownKID)
		}
	}
	if fetches != 2 {
		t.Errorf("fetches after 20 concurrent unknown-kid tokens = %d, want 2 (single-flight, cooldown)", fetches)
	}
	// The ghost kid is remembered: asking again right away fetches nothing.
	ghost, _ := testidp.Sign(other, jose.RS256, "ghost", map[string]any{"iss": idp.Issuer, "aud": aud, "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := o.Verify(context.Background(), ghost); reason(err) != auth.ReasonUnknownKID || fetches != 2 {
		t.Errorf("Verify(remembered ghost kid) = %v with %d fetches, want %s and 2", err, fetches, auth.ReasonUnknownKID)
	}
	// IdP down, cache past its TTL: the refresh fails, the last good keys
	// still verify a token never seen before.
	unseen := token(t, idp, "alice")
	idp.Stop()
	fakeNow = fakeNow.Add(2 * time.Hour)
	if _, err := o.Verify(context.Background(), unseen); err != nil {
		t.Errorf("Verify(with IdP down, stale cache) = %v, want verified with the last good keys", err)
	}
	if ok, detail := o.Ready(); !ok || !strings.Contains(detail, "last refresh failed") {
		t.Errorf("Ready() = %v, %q; want true with the refresh failure noted", ok, detail)
	}
}

func TestDiscoveryRefusesIssuerMismatch(t *testing.T) {
	idp := startIdP(t)
	o := New(Config{Issuer: idp.Issuer + "/", ClientID: aud, MaxTokenBytes: 1 << 14}, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := o.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "must match exactly") {
		t.Errorf("Discover(issuer with trailing slash) = %v, want an exact-match error", err)
	}
	if _, err := o.Verify(context.Background(), token(t, idp, "alice")); reason(err) != auth.ReasonIdPUnavailble {
		t.Errorf("Verify before discovery = %v, want %s", err, auth.ReasonIdPUnavailble)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	idp, err := testidp.Start(aud)
	if err != nil {
		b.Fatal(err)
	}
	defer idp.Stop()
	idp.AddUser(testidp.User{ID: "alice", Secret: "s", Claims: map[string]any{"groups": []any{"a", "b"}}})
	o := New(Config{Issuer: idp.Issuer, ClientID: aud, ClockSkew: time.Minute, MaxTokenBytes: 1 << 14}, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := o.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	tok, err := idp.Token(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := o.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold_rs256", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			o.cacheMu.Lock()
			clear(o.cache)
			o.cacheMu.Unlock()
			if _, err := o.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
