// Package license reads and verifies licence keys. This implementation is
// open: without a key every feature is on (plan "open", demo mode). A key,
// for operators who offer tiers, restricts the product to its plan: an
// Ed25519-signed document naming the plan, the licensee, the expiry, the
// device limit and any extra features, verified offline.
//
// A key is "meshq-license-v1." + base64url(payload JSON) + "." +
// base64url(signature), the signature covering everything before its dot.
package license

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Prefix begins every licence key and names its format.
const Prefix = "meshq-license-v1."

// Plans, in increasing order of what they include.
const (
	Community  = "community"
	Starter    = "starter"
	Pro        = "pro"
	Enterprise = "enterprise"
	// Open is the plan without a key: everything.
	Open = "open"
)

// Plans lists the plans a key may name, smallest first.
var Plans = []string{Community, Starter, Pro, Enterprise}

// Features, as the product documentation names them, and the smallest plan
// that includes each ("Pro+" and "Enterprise" in the docs). Community and
// Starter include the core: ingest, the community queries, paths, health,
// events; Starter differs by its device limit only.
var featurePlan = map[string]string{
	"queries_pro":          Pro,
	"rbac":                 Pro,
	"netbox_sync":          Pro,
	"ebpf_telemetry":       Pro,
	"queries_enterprise":   Enterprise,
	"oidc_sso":             Enterprise,
	"audit_logging":        Enterprise,
	"secrets_injection":    Enterprise,
	"apm":                  Enterprise,
	"soar_webhooks":        Enterprise,
	"nccl_silicon_mapping": Enterprise,
	"token_path_tracing":   Enterprise,
	"chaos_engineering":    Enterprise,
	"nl_conversation":      Enterprise,
}

// PlanFor names the smallest plan that includes feature.
func PlanFor(feature string) string {
	if p, ok := featurePlan[feature]; ok {
		return p
	}
	return Community
}

// FeaturesOf lists the features a plan includes, sorted.
func FeaturesOf(plan string) []string {
	var out []string
	for f, p := range featurePlan {
		if plan == Open || rank(p) <= rank(plan) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func rank(plan string) int {
	if plan == Open {
		return len(Plans)
	}
	return slices.Index(Plans, plan)
}

// Payload is the signed document.
type Payload struct {
	Plan     string    `json:"plan"`
	Licensee string    `json:"licensee,omitempty"`
	Issued   time.Time `json:"issued"`
	// Expires is the end of validity; zero means perpetual.
	Expires time.Time `json:"expires,omitzero"`
	// Devices is the device limit; 0 means none.
	Devices int `json:"devices,omitempty"`
	// Features are granted on top of the plan's.
	Features []string `json:"features,omitempty"`
}

// License is what a server runs under.
type License struct {
	Payload
	// Demo: no key was given; every feature is on.
	Demo bool
	// Expired keys keep the community features only.
	Expired bool
}

// None is the licence without a key.
func None() *License { return &License{Payload: Payload{Plan: Open}, Demo: true} }

// Effective is the plan in force: community once the key has expired.
func (l *License) Effective() string {
	if l.Expired {
		return Community
	}
	return l.Plan
}

// Has reports whether feature is available now.
func (l *License) Has(feature string) bool {
	if l.Demo {
		return true
	}
	if !l.Expired && slices.Contains(l.Features, feature) {
		return true
	}
	return rank(PlanFor(feature)) <= rank(l.Effective())
}

// FeatureList lists what is available now.
func (l *License) FeatureList() []string {
	fs := FeaturesOf(l.Effective())
	if !l.Expired {
		for _, f := range l.Features {
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
	}
	sort.Strings(fs)
	return fs
}

// DaysRemaining is the number of whole days until expiry (negative once
// expired); ok is false for a perpetual key or no key.
func (l *License) DaysRemaining(now time.Time) (int, bool) {
	if l.Demo || l.Expires.IsZero() {
		return 0, false
	}
	return int(l.Expires.Sub(now).Hours() / 24), true
}

// Parse verifies key against pub and reads it at time now.
func Parse(key string, pub ed25519.PublicKey, now time.Time) (*License, error) {
	key = strings.TrimSpace(key)
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return nil, fmt.Errorf("not a licence key (it must begin with %q)", Prefix)
	}
	body, sig64, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errors.New("licence key has no signature")
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("licence key signature is malformed")
	}
	if !ed25519.Verify(pub, []byte(Prefix+body), sig) {
		return nil, errors.New("licence key signature does not verify against the licence public key")
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("licence key payload is malformed")
	}
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("licence key payload: %w", err)
	}
	if rank(p.Plan) < 0 || p.Plan == Open {
		return nil, fmt.Errorf("licence key names plan %q; want one of %s", p.Plan, strings.Join(Plans, ", "))
	}
	for _, f := range p.Features {
		if _, known := featurePlan[f]; !known {
			return nil, fmt.Errorf("licence key grants unknown feature %q", f)
		}
	}
	return &License{Payload: p, Expired: !p.Expires.IsZero() && !now.Before(p.Expires)}, nil
}

// Issue signs p with priv.
func Issue(p Payload, priv ed25519.PrivateKey) (string, error) {
	if rank(p.Plan) < 0 || p.Plan == Open {
		return "", fmt.Errorf("plan %q; want one of %s", p.Plan, strings.Join(Plans, ", "))
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(raw)
	sig := ed25519.Sign(priv, []byte(Prefix+body))
	return Prefix + body + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParsePublicKey reads a public key: base64 of the raw 32 bytes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not base64 of a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey reads a private key file's content: base64 of the raw
// 32-byte seed, or a PEM PKCS#8 "PRIVATE KEY" block.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM private key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PEM private key is %T, not Ed25519", k)
		}
		return priv, nil
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("private key is neither PEM PKCS#8 nor base64 of a %d-byte Ed25519 seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// BuiltinPublicKey verifies keys when MESHQ_LICENSE_PUBLIC_KEY is not set.
// Its private half is not part of this repository: an operator who sells
// tiers makes a pair with `apiserver license keygen` and sets the variable.
const BuiltinPublicKey = "QTuKJdh3GNtVV1CPlfpGmLCybyxCkFOAZPHWTFAIbgc="

// FirstLine is a key file's key: its first non-empty line.
func FirstLine(content string) string {
	for _, line := range strings.Split(content, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}
