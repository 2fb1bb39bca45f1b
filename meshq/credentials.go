package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Credential kinds.
const (
	kindPAT    = "pat"
	kindAPIKey = "api_key"
)

// credentials is the file meshq login writes: one server and the secret
// that opens it.
type credentials struct {
	Server  string    `json:"server"`
	Kind    string    `json:"kind"` // pat or api_key
	Token   string    `json:"token"`
	TokenID string    `json:"token_id,omitempty"`
	Name    string    `json:"name,omitempty"`
	User    string    `json:"user,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// credentialsPath is $XDG_CONFIG_HOME/meshq/credentials, else
// ~/.config/meshq/credentials.
func (a *app) credentialsPath() (string, error) {
	if x := a.getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "meshq", "credentials"), nil
	}
	home := a.getenv("HOME")
	if home == "" {
		return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep credentials")
	}
	return filepath.Join(home, ".config", "meshq", "credentials"), nil
}

// loadCredentials reads the file; (nil, nil) when there is none.
func (a *app) loadCredentials() (*credentials, error) {
	path, err := a.credentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is not a meshq credentials file (%v); run meshq login again", path, err)
	}
	return &c, nil
}

// saveCredentials writes the file with mode 0600 in a 0700 directory,
// replacing any previous one whole (a crash leaves the old or the new).
func (a *app) saveCredentials(c *credentials) (string, error) {
	path, err := a.credentialsPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// The directory is meshq's own: tighten it if it was made looser.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

func (a *app) removeCredentials() error {
	path, err := a.credentialsPath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// serverURL is --server, else $MESHQ_URL, else the credentials file's.
func (a *app) serverURL(c *credentials) (string, error) {
	s := a.server
	if s == "" {
		s = a.getenv("MESHQ_URL")
	}
	if s == "" && c != nil {
		s = c.Server
	}
	if s == "" {
		return "", usagef("no server: pass --server URL, set MESHQ_URL, or run meshq login --server URL")
	}
	return normalizeServer(s)
}

func normalizeServer(s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", usagef("server %q must start with http:// or https://", s)
	}
	return s, nil
}
