//go:build !standard

package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// defaultK8sTokenFile is where Kubernetes mounts the pod's service-account
// token; VAULT_K8S_TOKEN_FILE overrides it (tests, projected tokens).
const defaultK8sTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// fetchVault reads VAULT_SECRET_PATH from a KV engine, version 1 or 2 as
// the mount says, with VAULT_TOKEN or, in a pod, a Kubernetes login.
func fetchVault(ctx context.Context, getenv func(string) string) ([]byte, error) {
	addr, path := getenv("VAULT_ADDR"), strings.Trim(getenv("VAULT_SECRET_PATH"), "/")
	if addr == "" {
		return nil, errors.New("VAULT_ADDR is not set")
	}
	if path == "" {
		return nil, errors.New("VAULT_SECRET_PATH is not set")
	}
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if ca := getenv("VAULT_CACERT"); ca != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: ca}); err != nil {
			return nil, fmt.Errorf("VAULT_CACERT=%s: %w", ca, err)
		}
	}
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("VAULT_ADDR=%s: %w", addr, err)
	}
	if err := vaultLogin(ctx, client, getenv); err != nil {
		return nil, err
	}
	data, err := readKV(ctx, client, path)
	if err != nil {
		return nil, vaultError(addr, err)
	}
	return json.Marshal(data)
}

// vaultLogin sets the client's token: VAULT_TOKEN as given, else a login
// with the pod's service-account token under VAULT_K8S_ROLE.
func vaultLogin(ctx context.Context, client *vault.Client, getenv func(string) string) error {
	client.ClearToken()
	if tok := getenv("VAULT_TOKEN"); tok != "" {
		client.SetToken(tok)
		return nil
	}
	role := getenv("VAULT_K8S_ROLE")
	if role == "" {
		return errors.New("neither VAULT_TOKEN nor VAULT_K8S_ROLE is set")
	}
	file := getenv("VAULT_K8S_TOKEN_FILE")
	if file == "" {
		file = defaultK8sTokenFile
	}
	jwt, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("VAULT_K8S_ROLE=%s: reading the service-account token: %w", role, err)
	}
	mount := strings.Trim(getenv("VAULT_K8S_MOUNT"), "/")
	if mount == "" {
		mount = "kubernetes"
	}
	s, err := client.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{
		"role": role,
		"jwt":  strings.TrimSpace(string(jwt)),
	})
	if err != nil {
		return fmt.Errorf("VAULT_K8S_ROLE=%s: Kubernetes login at auth/%s: %w", role, mount, vaultError(client.Address(), err))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("VAULT_K8S_ROLE=%s: Kubernetes login at auth/%s returned no token", role, mount)
	}
	client.SetToken(s.Auth.ClientToken)
	return nil
}

// readKV asks Vault which mount holds path and its KV version, as the vault
// CLI does, then reads the secret the way that version stores it.
func readKV(ctx context.Context, client *vault.Client, path string) (map[string]any, error) {
	m, err := client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err != nil {
		return nil, err
	}
	mount, version := "", "1"
	if m != nil && m.Data != nil {
		mount, _ = m.Data["path"].(string)
		if opts, ok := m.Data["options"].(map[string]any); ok {
			if v, ok := opts["version"].(string); ok && v != "" {
				version = v
			}
		}
	}
	mount = strings.Trim(mount, "/")
	if mount == "" || !strings.HasPrefix(path+"/", mount+"/") {
		return nil, fmt.Errorf("no secrets engine is mounted at %s", path)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path, mount), "/")
	if version == "2" {
		// Accept the API form (mount/data/name) as well as the CLI form.
		rel = strings.TrimPrefix(rel, "data/")
		s, err := client.KVv2(mount).Get(ctx, rel)
		if err != nil {
			return nil, err
		}
		return s.Data, nil
	}
	s, err := client.KVv1(mount).Get(ctx, rel)
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// vaultError turns the client's multi-line report into one line.
func vaultError(addr string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("the Vault at %s answered %d to %s %s: %s", addr, re.StatusCode, re.HTTPMethod, urlPath(re.URL), strings.Join(re.Errors, "; "))
	}
	if errors.Is(err, vault.ErrSecretNotFound) {
		return fmt.Errorf("the Vault at %s has no secret there", addr)
	}
	return fmt.Errorf("reaching the Vault at %s: %w", addr, err)
}

func urlPath(u string) string {
	if i := strings.Index(u, "/v1/"); i >= 0 {
		return u[i:]
	}
	return u
}
