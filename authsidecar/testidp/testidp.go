// Package testidp runs a real OpenID provider (zitadel/oidc's op package)
// in-process on loopback for the authsidecar's and meshq's tests and
// benchmarks: it serves discovery and JWKS, issues RS256 JWT access tokens
// through the client-credentials grant and, to the public client whose id
// is the audience, through the device authorization grant (RFC 8628) with
// a small verification page where a user approves or denies a code. It
// rotates its signing keys on demand. Only tests and benchreport import it.
package testidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a service account the provider issues tokens for.
type User struct {
	ID     string
	Secret string
	// Claims are added to every token issued to the user (groups,
	// preferred_username, _claim_names…).
	Claims map[string]any
}

// Key is one RSA signing key.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// IdP is a running provider.
type IdP struct {
	Issuer   string
	Audience string
	srv      *http.Server
	ln       net.Listener
	store    *store
}

// Start starts a provider on a free loopback port whose tokens carry
// audience aud.
func Start(aud string) (*IdP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	issuer := "http://" + ln.Addr().String()
	st := &store{Storage: storage.NewStorage(storage.NewUserStore(issuer)), users: map[string]User{}, audience: aud,
		devices: map[string]*deviceGrant{}}
	if _, err := st.Rotate(); err != nil {
		ln.Close()
		return nil, err
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		ln.Close()
		return nil, err
	}
	provider, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true,
		DeviceAuthorization: op.DeviceAuthorizationConfig{Lifetime: 5 * time.Minute, PollInterval: time.Second,
			UserFormPath: DevicePath, UserCode: op.UserCodeBase20}}, st,
		op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("creating provider: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", provider)
	mux.HandleFunc(DevicePath, st.devicePage)
	idp := &IdP{Issuer: issuer, Audience: aud, ln: ln, store: st,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go idp.srv.Serve(ln)
	return idp, nil
}

// Restart serves again on the same address after Stop.
func (p *IdP) Restart() error {
	ln, err := net.Listen("tcp", strings.TrimPrefix(p.Issuer, "http://"))
	if err != nil {
		return fmt.Errorf("relistening: %w", err)
	}
	p.srv = &http.Server{Handler: p.srv.Handler, ReadHeaderTimeout: 5 * time.Second}
	p.ln = ln
	go p.srv.Serve(ln)
	return nil
}

// Stop stops serving (the IdP is "down").
func (p *IdP) Stop() { p.srv.Close() }

// AddUser registers a service account.
func (p *IdP) AddUser(u User) { p.store.addUser(u) }

// Rotate makes a fresh key the signing key; the old ones stay published
// until Retire.
func (p *IdP) Rotate() (Key, error) { return p.store.Rotate() }

// Retire stops publishing the key with id.
func (p *IdP) Retire(id string) { p.store.retire(id) }

// CurrentKey is the key new tokens are signed with.
func (p *IdP) CurrentKey() Key { return p.store.current() }

// Token obtains an access token for the user through the token endpoint.
func (p *IdP) Token(ctx context.Context, userID string) (string, error) {
	u, ok := p.store.user(userID)
	if !ok {
		return "", fmt.Errorf("no user %q", userID)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(url.QueryEscape(u.ID), url.QueryEscape(u.Secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token request: status %d: %s %s", resp.StatusCode, body.Error, body.Description)
	}
	return body.AccessToken, nil
}

// Sign signs arbitrary claims with key and header fields, for the forged
// tokens of the security tests (alg and kid as given).
func Sign(key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// DevicePath is the verification page of the device flow: GET shows a
// form, POST with user_code, username, password and action (allow or deny)
// is the user's decision, as a person would submit it from a browser.
const DevicePath = "/device"

// Approve submits the verification page for userCode as user with the
// given action ("allow" or "deny"), as the person at the browser would.
func (p *IdP) Approve(ctx context.Context, userCode, userID, action string) error {
	u, _ := p.store.user(userID)
	form := url.Values{"user_code": {userCode}, "username": {userID}, "password": {u.Secret}, "action": {action}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+DevicePath, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verification page answered %d", resp.StatusCode)
	}
	return nil
}

// deviceGrant is one device authorization in flight.
type deviceGrant struct {
	userCode string
	state    *op.DeviceAuthorizationState
}

// store is the example in-memory storage with our keys, service accounts
// and claims.
type store struct {
	*storage.Storage
	mu       sync.Mutex
	keys     []Key // published; the last is the signing key
	users    map[string]User
	audience string
	devices  map[string]*deviceGrant // by device code
}

func (s *store) Rotate() (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Key{}, err
	}
	var id [8]byte
	rand.Read(id[:])
	k := Key{ID: fmt.Sprintf("%x", id), Private: priv}
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
	return k, nil
}

func (s *store) retire(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys {
		if k.ID == id {
			s.keys = append(s.keys[:i:i], s.keys[i+1:]...)
			return
		}
	}
}

func (s *store) current() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

func (s *store) addUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

func (s *store) user(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	return u, ok
}

type signingKey struct{ k Key }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.k.Private }
func (k signingKey) ID() string                                  { return k.k.ID }

type publicKey struct{ k Key }

func (k publicKey) ID() string                         { return k.k.ID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.k.Private.PublicKey }

func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.current()}, nil
}

func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *store) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

func (s *store) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	u, ok := s.user(id)
	if !ok || u.Secret != secret {
		return nil, fmt.Errorf("wrong service user or password")
	}
	return client{id: id}, nil
}

func (s *store) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	return &oidc.JWTTokenRequest{Subject: id, Audience: []string{s.audience}, Scopes: scopes}, nil
}

func (s *store) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, _ []string) (map[string]any, error) {
	u, _ := s.user(userID)
	out := map[string]any{}
	for k, v := range u.Claims {
		out[k] = v
	}
	return out, nil
}

// GetClientByClientID knows the device client (the audience: a public
// command-line client) besides the example storage's clients.
func (s *store) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == s.audience {
		return deviceClient{client{id: id}}, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

func (s *store) StoreDeviceAuthorization(_ context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.devices {
		if g.userCode == userCode {
			return op.ErrDuplicateUserCode
		}
	}
	s.devices[deviceCode] = &deviceGrant{userCode: userCode,
		state: &op.DeviceAuthorizationState{ClientID: clientID, Scopes: scopes, Expires: expires}}
	return nil
}

func (s *store) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.devices[deviceCode]
	if !ok || g.state.ClientID != clientID {
		return nil, fmt.Errorf("no device authorization for this client")
	}
	st := *g.state
	return &st, nil
}

func (s *store) byUserCode(code string) *deviceGrant {
	for _, g := range s.devices {
		if g.userCode == code {
			return g
		}
	}
	return nil
}

// devicePage is the verification page: the user signs in with their
// service account's secret and allows or denies the code.
func (s *store) devicePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form method="post">code <input name="user_code" value="%s"> user <input name="username"> password <input name="password" type="password"> <button name="action" value="allow">Allow</button> <button name="action" value="deny">Deny</button></form>`,
			url.QueryEscape(r.URL.Query().Get("user_code")))
		return
	}
	code, user, pass, action := r.PostFormValue("user_code"), r.PostFormValue("username"), r.PostFormValue("password"), r.PostFormValue("action")
	u, ok := s.user(user)
	if !ok || u.Secret != pass {
		http.Error(w, "wrong user or password", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.byUserCode(code)
	if g == nil || time.Now().After(g.state.Expires) {
		http.Error(w, "unknown or expired code", http.StatusNotFound)
		return
	}
	switch action {
	case "allow":
		g.state.Done, g.state.Subject, g.state.AuthTime, g.state.AMR = true, user, time.Now(), []string{"pwd"}
	case "deny":
		g.state.Denied = true
	default:
		http.Error(w, "action must be allow or deny", http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "done; return to your terminal")
}

// SetUserinfoFromScopes and SetUserinfoFromRequest fill ID tokens from
// our users (the example storage only knows its own).
func (s *store) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, scopes []string) error {
	u, ok := s.user(userID)
	if !ok {
		return fmt.Errorf("no user %q", userID)
	}
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		if name, ok := u.Claims["preferred_username"].(string); ok {
			info.PreferredUsername = name
		}
	}
	return nil
}

func (s *store) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.SetUserinfoFromScopes(ctx, info, req.GetSubject(), req.GetClientID(), scopes)
}

// client is a service account as op sees it: client credentials only,
// JWT access tokens.
type client struct{ id string }

func (c client) GetID() string                       { return c.id }
func (c client) RedirectURIs() []string              { return nil }
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c client) ResponseTypes() []oidc.ResponseType  { return nil }
func (c client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c client) LoginURL(string) string               { return "" }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c client) DevMode() bool                        { return true }
func (c client) IsScopeAllowed(string) bool           { return true }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// deviceClient is the public command-line client: no secret, the device
// grant only, JWT access tokens carrying the audience.
type deviceClient struct{ client }

func (deviceClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (deviceClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (deviceClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeDeviceCode}
}
