package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/term"
)

// authConfig is the sidecar's GET /auth/config.
type authConfig struct {
	AuthMode string `json:"auth_mode"`
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
}

func (a *app) loginCommand() *cobra.Command {
	var (
		apiKey bool
		name   string
		ttl    time.Duration
		scopes []string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and store a personal access token (or an API key)",
		Long: `login asks the sidecar how it authenticates (GET /auth/config), then runs the
OIDC device authorization grant (RFC 8628) against the identity provider it
trusts: you open the page it prints, sign in and approve the code. With that
login it mints a personal access token (POST /auth/tokens) and stores only the
token, in $XDG_CONFIG_HOME/meshq/credentials (mode 0600).

With --api-key it stores an API key instead, read from the terminal without
echo or from standard input (never from the command line, where other users
and shell history could read it).`,
		Example: `  meshq login --server https://meshq.example.net
  meshq login --ttl 24h --name "ci laptop"
  meshq login --server https://meshq.example.net --api-key < key.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.loadCredentials()
			if err != nil {
				return err
			}
			server, err := a.serverURL(c)
			if err != nil {
				return err
			}
			s := &session{a: a, server: server, client: a.httpClient()}
			var cfg authConfig
			if err := s.getJSON(cmd.Context(), "/auth/config", &cfg); err != nil {
				return fmt.Errorf("asking %s how to log in: %w", server, err)
			}
			if apiKey {
				return a.loginAPIKey(cmd.Context(), s, cfg)
			}
			if ttl < 0 || (ttl > 0 && ttl < time.Second) {
				return usagef("--ttl must be at least 1s")
			}
			if name == "" {
				host, _ := os.Hostname()
				name = "meshq on " + host
			}
			return a.loginDevice(cmd.Context(), s, cfg, name, ttl, scopes)
		},
	}
	cmd.Flags().BoolVar(&apiKey, "api-key", false, "store an API key (read from standard input) instead of logging in")
	cmd.Flags().StringVar(&name, "name", "", `name of the token, shown in its list (default "meshq on HOSTNAME")`)
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the token (default: the sidecar's PAT_DEFAULT_TTL)")
	cmd.Flags().StringSliceVar(&scopes, "scope", []string{oidc.ScopeOpenID, "profile", "email"}, "scopes to ask the identity provider for")
	return cmd
}

func (a *app) loginAPIKey(ctx context.Context, s *session, cfg authConfig) error {
	if cfg.AuthMode == "oidc" {
		return fmt.Errorf("%s accepts no API keys (auth mode oidc); run meshq login without --api-key", s.server)
	}
	key, err := a.readSecret("API key: ")
	if err != nil {
		return err
	}
	if key == "" {
		return usagef("no API key on standard input")
	}
	s.creds = &credentials{Server: s.server, Kind: kindAPIKey, Token: key}
	if err := s.checkCredentials(ctx); err != nil {
		return fmt.Errorf("the server refused the key, nothing stored: %w", err)
	}
	path, err := a.saveCredentials(s.creds)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "API key for %s stored in %s\n", s.server, path)
	return nil
}

// readSecret reads one line: from the terminal without echo, else from
// standard input.
func (a *app) readSecret(prompt string) (string, error) {
	if f, ok := a.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.errOut, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.errOut)
		return strings.TrimSpace(string(b)), err
	}
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// checkCredentials asks an authenticated endpoint: only 401 means the
// credentials are wrong (403 is a valid identity without that right).
func (s *session) checkCredentials(ctx context.Context) error {
	resp, err := s.do(ctx, request{method: http.MethodGet, path: "/queries/"})
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (a *app) loginDevice(ctx context.Context, s *session, cfg authConfig, name string, ttl time.Duration, scopes []string) error {
	if cfg.AuthMode == "api_key" || cfg.Issuer == "" {
		return fmt.Errorf("%s takes API keys only (auth mode %s); run meshq login --api-key", s.server, cfg.AuthMode)
	}
	octx := oidc.ClientContext(ctx, s.client)
	provider, err := oidc.NewProvider(octx, cfg.Issuer)
	if err != nil {
		return fmt.Errorf("discovering the identity provider %s: %w", cfg.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if endpoint.DeviceAuthURL == "" {
		return fmt.Errorf("the identity provider %s offers no device authorization endpoint (RFC 8628); ask its administrator to enable the device flow for client %s", cfg.Issuer, cfg.ClientID)
	}
	// A public client: client_id in the form, no secret.
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	oc := &oauth2.Config{ClientID: cfg.ClientID, Endpoint: endpoint, Scopes: scopes}
	da, err := oc.DeviceAuth(octx)
	if err != nil {
		return fmt.Errorf("starting the device login at %s: %w", endpoint.DeviceAuthURL, describeOAuth(err))
	}
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(a.errOut, "To log in, open\n  %s\nin a browser and check that it shows the code %s\n", da.VerificationURIComplete, da.UserCode)
	} else {
		fmt.Fprintf(a.errOut, "To log in, open\n  %s\nin a browser and enter the code %s\n", da.VerificationURI, da.UserCode)
	}
	fmt.Fprintln(a.errOut, "Waiting for approval…")
	tok, err := oc.DeviceAccessToken(octx, da)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("login not completed: the code expired before it was approved; run meshq login again")
	case err != nil:
		return fmt.Errorf("login refused: %w", describeOAuth(err))
	}
	// The sidecar verifies a JWT against the issuer's keys: an opaque
	// access token cannot be, the ID token (audience = client id) can.
	bearer := tok.AccessToken
	if idt, _ := tok.Extra("id_token").(string); strings.Count(bearer, ".") != 2 && idt != "" {
		bearer = idt
	}
	body := map[string]any{"name": name}
	if ttl > 0 {
		body["expires_in"] = int64(ttl / time.Second)
	}
	resp, err := s.do(ctx, request{method: http.MethodPost, path: "/auth/tokens", json: body, bearer: bearer})
	if err != nil {
		return fmt.Errorf("logged in at the identity provider, but the sidecar minted no token: %w", err)
	}
	defer resp.Body.Close()
	var minted struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Expires time.Time `json:"expires"`
	}
	if err := decodeBody(resp, &minted); err != nil {
		return err
	}
	c := &credentials{Server: s.server, Kind: kindPAT, Token: minted.Token, TokenID: minted.ID, Name: minted.Name,
		User: userOf(bearer), Expires: minted.Expires}
	path, err := a.saveCredentials(c)
	if err != nil {
		return fmt.Errorf("token %s minted but not stored (%w); revoke it from another login", minted.ID, err)
	}
	fmt.Fprintf(a.errOut, "Logged in to %s as %s; token %q (expires %s) stored in %s\n", s.server, c.User, c.Name,
		c.Expires.Local().Format(time.RFC3339), path)
	return nil
}

// describeOAuth turns an OAuth error response into its code and
// description.
func describeOAuth(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode == "" {
		return err
	}
	msg := map[string]string{
		"access_denied":  "the request was denied at the identity provider",
		"expired_token":  "the code expired before it was approved",
		"invalid_client": "the identity provider does not accept the sidecar's OIDC_CLIENT_ID as a public device-flow client",
	}[re.ErrorCode]
	if msg == "" {
		msg = re.ErrorDescription
	}
	return fmt.Errorf("%s (%s)", msg, re.ErrorCode)
}

// userOf names the user as the sidecar does (preferred_username, else
// email, else sub), read from the token for display only: the sidecar
// has verified it.
func userOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "(unknown)"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "(unknown)"
	}
	var c struct {
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		Sub               string `json:"sub"`
	}
	json.Unmarshal(b, &c)
	for _, v := range []string{c.PreferredUsername, c.Email, c.Sub} {
		if v != "" {
			return v
		}
	}
	return "(unknown)"
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the stored personal access token and delete the credentials file",
		Long: `logout revokes the stored personal access token at the sidecar
(DELETE /auth/tokens/{id}) and deletes the credentials file. A token the
sidecar no longer knows (expired, revoked) is simply forgotten; an API key is
forgotten here only (rotate it on the server).`,
		Example: "  meshq logout",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.loadCredentials()
			if err != nil {
				return err
			}
			if c == nil {
				fmt.Fprintln(a.errOut, "Not logged in.")
				return nil
			}
			if c.Kind == kindPAT && c.TokenID != "" {
				s := &session{a: a, server: c.Server, creds: c, client: a.httpClient()}
				resp, err := s.do(cmd.Context(), request{method: http.MethodDelete, path: "/auth/tokens/" + c.TokenID})
				var ae *apiError
				switch {
				case err == nil:
					resp.Body.Close()
					fmt.Fprintf(a.errOut, "Token %q revoked at %s.\n", c.Name, c.Server)
				case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusNotFound):
					fmt.Fprintf(a.errOut, "The server no longer accepts token %q (%s); forgetting it.\n", c.Name, ae.Message)
				default:
					return fmt.Errorf("revoking token %q at %s, credentials kept so you can retry: %w", c.Name, c.Server, err)
				}
			}
			if err := a.removeCredentials(); err != nil {
				return err
			}
			fmt.Fprintln(a.errOut, "Credentials deleted.")
			return nil
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as, and whether the server still accepts it",
		Example: `  meshq whoami
  meshq whoami --server https://meshq.example.net`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session(true)
			if err != nil {
				return err
			}
			c := s.creds
			fmt.Fprintf(a.out, "server:  %s\n", c.Server)
			switch c.Kind {
			case kindPAT:
				fmt.Fprintf(a.out, "user:    %s\n", c.User)
				fmt.Fprintf(a.out, "token:   %q (id %s), expires %s\n", c.Name, c.TokenID, c.Expires.Local().Format(time.RFC3339))
			default:
				fmt.Fprintf(a.out, "login:   API key\n")
			}
			if err := s.checkCredentials(cmd.Context()); err != nil {
				return fmt.Errorf("the server refuses these credentials: %w", err)
			}
			fmt.Fprintln(a.out, "status:  accepted by the server")
			return nil
		},
	}
}
