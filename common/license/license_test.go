package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func keypair(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestIssueAndParse(t *testing.T) {
	pub, priv := keypair(t)
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	key, err := Issue(Payload{Plan: Pro, Licensee: "Acme", Issued: now, Expires: now.AddDate(0, 0, 30), Devices: 500}, priv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse(key, pub, now)
	if err != nil {
		t.Fatal(err)
	}
	if l.Plan != Pro || l.Licensee != "Acme" || l.Devices != 500 || l.Expired || l.Demo {
		t.Errorf("parsed %+v", l)
	}
	if d, ok := l.DaysRemaining(now); !ok || d != 30 {
		t.Errorf("days remaining = %d %v, want 30", d, ok)
	}
	// Pro has the Pro+ features, not the Enterprise ones.
	for f, want := range map[string]bool{"netbox_sync": true, "ebpf_telemetry": true, "queries_pro": true,
		"chaos_engineering": false, "queries_enterprise": false, "nccl_silicon_mapping": false} {
		if l.Has(f) != want {
			t.Errorf("pro Has(%s) = %v, want %v", f, !want, want)
		}
	}
	// Expired: community only, and it says so.
	old, err := Parse(key, pub, now.AddDate(0, 0, 31))
	if err != nil {
		t.Fatal(err)
	}
	if !old.Expired || old.Effective() != Community || old.Has("netbox_sync") {
		t.Errorf("expired licence = %+v effective %s", old, old.Effective())
	}
	if d, _ := old.DaysRemaining(now.AddDate(0, 0, 31)); d >= 0 {
		t.Errorf("days remaining after expiry = %d, want negative", d)
	}
}

func TestForgedKeysAreRefused(t *testing.T) {
	pub, priv := keypair(t)
	otherPub, _ := keypair(t)
	now := time.Now()
	key, err := Issue(Payload{Plan: Starter, Issued: now}, priv)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(key, Prefix)
	payload, sig, _ := strings.Cut(body, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	upgraded := strings.Replace(string(raw), `"starter"`, `"enterprise"`, 1)
	for name, k := range map[string]string{
		"plan edited":       Prefix + base64.RawURLEncoding.EncodeToString([]byte(upgraded)) + "." + sig,
		"other signer":      key,
		"no signature":      Prefix + payload,
		"not a licence key": "hello",
	} {
		verifyWith := pub
		if name == "other signer" {
			verifyWith = otherPub
		}
		if _, err := Parse(k, verifyWith, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Issue(Payload{Plan: "platinum"}, priv); err == nil {
		t.Error("issued a key for an unknown plan")
	}
}

func TestNoKeyIsOpen(t *testing.T) {
	l := None()
	if !l.Demo || l.Effective() != Open || !l.Has("chaos_engineering") || !l.Has("anything_new") {
		t.Errorf("no key = %+v", l)
	}
	if _, ok := l.DaysRemaining(time.Now()); ok {
		t.Error("no key has days remaining")
	}
}

func TestPrivateKeyFormats(t *testing.T) {
	pub, priv := keypair(t)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"seed": []byte(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"),
	} {
		got, err := ParsePrivateKey(data)
		if err != nil || !got.Public().(ed25519.PublicKey).Equal(pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKey([]byte("nope")); err == nil {
		t.Error("accepted garbage as a private key")
	}
	if _, err := ParsePublicKey(BuiltinPublicKey); err != nil {
		t.Errorf("built-in public key: %v", err)
	}
}
