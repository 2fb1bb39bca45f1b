// Package secrets fills a daemon's environment from a secrets manager
// before its configuration is read. SECRETS_PROVIDER names the provider
// (vault, aws, azure, gcp); the secret it names is one JSON object mapping
// environment variable names to values. Start merges it over the
// environment and re-executes the binary with the result, so the
// configuration loaders keep reading plain variables: nothing is written to
// disk and no value reaches argv or the logs.
package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/meshoptixiq/mesh/common/edition"
	"github.com/meshoptixiq/mesh/common/secrets/launch"
)

const (
	// ProviderVar selects the provider; empty means no secrets manager.
	ProviderVar = launch.ProviderVar
	// MarkerVar is set in the re-executed process so it does not fetch again.
	MarkerVar = launch.MarkerVar
	// fetchTimeout bounds the whole fetch: a pod that cannot reach its
	// secrets manager should fail its start, not hang in it.
	fetchTimeout = 30 * time.Second
)

// Start is the hook each daemon's main calls first. With SECRETS_PROVIDER
// unset, in the process it re-executed, or for a subcommand that reads no
// secret (probe, version, help: an exec probe must not call the secrets
// manager every few seconds), it returns and the daemon starts as usual.
// Otherwise it replaces the process, or prints why it could not and exits 1.
func Start(program string) {
	if launch.SkipsSecrets(os.Args) {
		return
	}
	// /proc/self/exe is the running binary even if its path was relative or
	// has since been replaced; argv is passed through untouched.
	if err := Exec("/proc/self/exe", os.Args); err != nil {
		fmt.Fprintln(os.Stderr, program+":", err)
		os.Exit(1)
	}
}

// Exec fetches the secrets and replaces the process with program, run with
// argv and the environment merged with them. With nothing to fetch (no
// provider, or fetched already) it returns nil without executing anything.
// The helper secretsexec runs it for daemons started by launch.Start.
func Exec(program string, argv []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	env, err := Environ(ctx, os.Getenv, os.Environ())
	if err != nil || env == nil {
		return err
	}
	if err := syscall.Exec(program, argv, env); err != nil {
		return fmt.Errorf("secrets: executing %s with the environment from %s=%s: %w", program, ProviderVar, os.Getenv(ProviderVar), err)
	}
	return nil
}

// Environ returns the environment the daemon should be re-executed with,
// or nil when there is nothing to fetch (no provider, or already fetched).
func Environ(ctx context.Context, getenv func(string) string, environ []string) ([]string, error) {
	name := getenv(ProviderVar)
	if name == "" || getenv(MarkerVar) != "" {
		return nil, nil
	}
	if edition.Standard {
		return nil, edition.Refuse(ProviderVar, "a secrets provider")
	}
	p, ok := providers[name]
	if !ok {
		return nil, fmt.Errorf("secrets: %s=%q: want one of %s", ProviderVar, name, strings.Join(providerNames(), ", "))
	}
	raw, err := p.fetch(ctx, getenv)
	if err == nil {
		var values map[string]string
		if values, err = parseValues(raw); err == nil {
			return merge(environ, values, name), nil
		}
	}
	// SDK errors can span lines (response dumps); a start failure is one.
	return nil, fmt.Errorf("secrets: %s=%s: %s: %s", ProviderVar, name, p.names(getenv), strings.Join(strings.Fields(err.Error()), " "))
}

// A provider fetches the raw secret document; names says which secret, for
// messages (the variable and its value, e.g. VAULT_SECRET_PATH=kv/app).
type provider struct {
	fetch func(ctx context.Context, getenv func(string) string) ([]byte, error)
	names func(getenv func(string) string) string
}

func providerNames() []string {
	var out []string
	for n := range providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parseValues accepts only a JSON object whose values are all strings.
// Its messages name keys and JSON types, never a value.
func parseValues(raw []byte) (map[string]string, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("the secret is not a JSON object of strings")
	}
	values := make(map[string]string, len(doc))
	for k, v := range doc {
		var s string
		// null would decode to "" without an error.
		if !strings.HasPrefix(strings.TrimSpace(string(v)), `"`) || json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("the secret is not a JSON object of strings: %q is %s", k, jsonKind(v))
		}
		if err := checkName(k); err != nil {
			return nil, err
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("the value of %q contains a NUL byte, which no environment variable can hold", k)
		}
		values[k] = s
	}
	return values, nil
}

func checkName(k string) error {
	switch {
	case k == ProviderVar || k == MarkerVar:
		return fmt.Errorf("the secret may not set %s: it is read before the secret", k)
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return fmt.Errorf("the secret has key %q, which is not an environment variable name", k)
	}
	return nil
}

func jsonKind(v json.RawMessage) string {
	switch s := strings.TrimSpace(string(v)); {
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "a boolean"
	case strings.HasPrefix(s, "{"):
		return "an object"
	case strings.HasPrefix(s, "["):
		return "an array"
	default:
		return "a number"
	}
}

// merge puts values over environ (the secret wins) and adds the marker.
func merge(environ []string, values map[string]string, provider string) []string {
	out := make([]string, 0, len(environ)+len(values)+1)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, overridden := values[k]; overridden || k == MarkerVar {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+values[k])
	}
	return append(out, MarkerVar+"="+provider)
}
