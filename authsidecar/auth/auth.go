// Package auth authenticates callers of the authsidecar with static API
// keys (API_KEY and API_KEYS_FILE), and holds what every method shares: the
// Identity a caller is, and the reasons a bearer token is refused. OIDC
// bearer tokens are verified by package authsidecar/oidc, which the
// standard build leaves out.
package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/meshoptixiq/mesh/common/audit"
)

// Methods, as recorded in X-Meshq-Auth and the audit record.
const (
	MethodAPIKey = "api_key"
	MethodOIDC   = "oidc"
	MethodPAT    = "pat"
)

// MinKeyLength is the shortest API key the sidecar accepts (seeds §12.1).
const MinKeyLength = 32

// Identity is an authenticated caller.
type Identity struct {
	User   string
	Method string
	// KeyFP is the fingerprint of the key or token used (never the key).
	KeyFP string
	// Groups are the caller's groups (OIDC claim, or a PAT owner's groups
	// at creation); RBAC maps them to roles.
	Groups []string
	// Admin is set for API keys of role admin (the master key, and named
	// keys without a role): it passes every check.
	Admin bool
	// Role is a named API key's role (API_KEYS_FILE name:role:key): the
	// policy's role it acts with instead of groups.
	Role string
	// Fresh marks the first verification of a bearer token by this
	// process: the audit log records it as a login.
	Fresh bool
}

// Reasons a bearer token is refused (by the OIDC verifier, package
// authsidecar/oidc); they are safe to show a client and are used as metric
// labels.
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

// ErrUnauthenticated is returned (wrapped, with the reason) when a
// credential is present but not valid.
var ErrUnauthenticated = errors.New("unauthenticated")

type apiKey struct {
	name  string
	role  string // RoleAdmin unless API_KEYS_FILE names one
	where string // API_KEY or file:line, for errors
	sum   [sha256.Size]byte
	fp    string
}

// RoleAdmin is the role of the master key and of named keys given none.
const RoleAdmin = "admin"

// APIKeys holds the static keys. Lookups compare the SHA-256 of the
// presented key with every configured key in constant time, so neither
// the position of a match nor a common prefix leaks through timing.
type APIKeys struct {
	keys []apiKey
}

// NewAPIKeys builds the key set from API_KEY (named "admin", the seeds'
// user for the master key, role admin) and the lines of API_KEYS_FILE
// content: name:key (role admin) or name:role:key, the role one of the
// RBAC policy's, so that automation gets least privilege. Keys shorter
// than MinKeyLength, duplicate names and malformed lines are errors naming
// the line, never the key.
func NewAPIKeys(master string, fileContent []byte, fileName string) (*APIKeys, error) {
	k := &APIKeys{}
	var errs []error
	seen := map[string]bool{}
	add := func(where, name, role, key string) {
		switch {
		case len(key) < MinKeyLength:
			errs = append(errs, fmt.Errorf("%s: key %q is %d characters, at least %d are required (openssl rand -hex 32)", where, name, len(key), MinKeyLength))
		case seen[name]:
			errs = append(errs, fmt.Errorf("%s: key name %q is used twice", where, name))
		default:
			seen[name] = true
			k.keys = append(k.keys, apiKey{name: name, role: role, where: where, sum: sha256.Sum256([]byte(key)), fp: audit.Fingerprint(key)})
		}
	}
	if master != "" {
		add("API_KEY", "admin", RoleAdmin, master)
	}
	sc := bufio.NewScanner(bytes.NewReader(fileContent))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, ":", 3)
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		where := fmt.Sprintf("%s:%d", fileName, n)
		name, role, key := fields[0], RoleAdmin, fields[len(fields)-1]
		if len(fields) == 3 {
			role = fields[1]
		}
		if len(fields) < 2 || name == "" || role == "" || key == "" {
			errs = append(errs, fmt.Errorf("%s: want name:key or name:role:key", where))
			continue
		}
		add(where, name, role, key)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading %s: %w", fileName, err))
	}
	return k, errors.Join(errs...)
}

// LoadAPIKeysFile reads API_KEYS_FILE (empty name → no file).
func LoadAPIKeysFile(master, path string) (*APIKeys, error) {
	var content []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading API_KEYS_FILE: %w", err)
		}
		content = b
	}
	return NewAPIKeys(master, content, path)
}

// Len is the number of configured keys.
func (k *APIKeys) Len() int { return len(k.keys) }

// Fingerprints lists name → fingerprint, for the startup log.
func (k *APIKeys) Fingerprints() map[string]string {
	out := make(map[string]string, len(k.keys))
	for _, key := range k.keys {
		out[key.name] = key.fp
	}
	return out
}

// CheckRoles reports, naming each line, the keys whose role known
// rejects; the admin role is always known.
func (k *APIKeys) CheckRoles(known func(role string) error) error {
	var errs []error
	for _, key := range k.keys {
		if key.role == RoleAdmin {
			continue
		}
		if err := known(key.role); err != nil {
			errs = append(errs, fmt.Errorf("%s: key %q: %w", key.where, key.name, err))
		}
	}
	return errors.Join(errs...)
}

// Check returns the identity for presented, or false.
func (k *APIKeys) Check(presented []byte) (Identity, bool) {
	sum := sha256.Sum256(presented)
	match := -1
	for i := range k.keys {
		if subtle.ConstantTimeCompare(sum[:], k.keys[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Identity{}, false
	}
	key := &k.keys[match]
	return Identity{User: key.name, Method: MethodAPIKey, KeyFP: key.fp, Admin: key.role == RoleAdmin, Role: key.role}, true
}
