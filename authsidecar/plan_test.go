//go:build !standard

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/license"
)

// licenceEnv signs a key for plan, expiring at expires, with a key pair
// made for the test, and returns the variables that hand it to the sidecar.
func licenceEnv(t *testing.T, plan string, expires time.Time) map[string]string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := license.Issue(license.Payload{Plan: plan, Licensee: "plan test", Issued: time.Now().Add(-48 * time.Hour),
		Expires: expires, Devices: 100}, priv)
	if err != nil {
		t.Fatalf("license.Issue: %v", err)
	}
	return map[string]string{"MESHOPTIXIQ_LICENSE_KEY": key, "MESHQ_LICENSE_PUBLIC_KEY": base64.StdEncoding.EncodeToString(pub)}
}

func merged(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Under a Pro key the Enterprise integrations are refused at start, each
// naming its variable, the plan that has it and the key's plan.
func TestPlanRefusesIntegrationsOutsideIt(t *testing.T) {
	pro := licenceEnv(t, license.Pro, time.Now().AddDate(1, 0, 0))
	env := merged(pro, map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "API_KEY": testKey,
		"AUTH_MODE": "both", "OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "meshq",
		"SOAR_WEBHOOK_URL": "https://soar.example/hook", "SOAR_RULES": `[{"name":"bulk","query":"*","condition":"row_count > 50"}]`,
	})
	err := run(context.Background(), nil, mapEnv(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run(pro key, AUTH_MODE=both, SOAR) = nil, want a refusal")
	}
	for _, want := range []string{
		"AUTH_MODE: OIDC sign-in (AUTH_MODE=both) needs the enterprise plan (feature oidc_sso), and the licence key (MESHOPTIXIQ_LICENSE_KEY) is for the pro plan",
		"SOAR_WEBHOOK_URL: the SOAR webhook needs the enterprise plan (feature soar_webhooks), and the licence key (MESHOPTIXIQ_LICENSE_KEY) is for the pro plan",
		"SOAR_RULES: the SOAR webhook needs the enterprise plan",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run(pro key, AUTH_MODE=both, SOAR) = %v\nwant it to contain %q", err, want)
		}
	}

	// The same key with API keys only and no SOAR: nothing to refuse.
	if _, err := loadConfig(mapEnv(merged(pro, map[string]string{"API_KEY": testKey}))); err != nil {
		t.Errorf("loadConfig(pro key, api_key) = %v, want nil", err)
	}
	// A key that does not verify stops the start, naming the licence.
	bad := merged(pro, map[string]string{"API_KEY": testKey, "MESHOPTIXIQ_LICENSE_KEY": pro["MESHOPTIXIQ_LICENSE_KEY"] + "x"})
	if _, err := loadConfig(mapEnv(bad)); err == nil || !strings.Contains(err.Error(), "MESHOPTIXIQ_LICENSE_KEY: the licence key is refused") {
		t.Errorf("loadConfig(tampered key) = %v, want MESHOPTIXIQ_LICENSE_KEY refused", err)
	}
}

// An Enterprise key has OIDC: bearer tokens are verified as without a key.
func TestEnterpriseKeyHasOIDC(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	sc := startSidecar(t, up.Addr, oidcEnv(idp, licenceEnv(t, license.Enterprise, time.Now().AddDate(1, 0, 0))))
	eventually(t, "readyz with JWKS fetched", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 200, string(body)
	})
	if status, _, body := do(t, "POST", sc.URL+"/queries/topology_full/execute", bearer(t, idp, "alice"), ""); status != 200 {
		t.Errorf("alice's bearer token under an enterprise key = %d %s, want 200", status, body)
	}
}

// An expired Enterprise key keeps the community features: the sidecar
// starts with OIDC and SOAR configured, API keys work, bearer tokens answer
// 403 plan_required naming the plan, and SOAR is off, as the log says.
func TestExpiredKeyKeepsAPIKeysOnly(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	expired := licenceEnv(t, license.Enterprise, time.Now().Add(-24*time.Hour))
	sc := startSidecar(t, up.Addr, oidcEnv(idp, merged(expired, map[string]string{
		"SOAR_WEBHOOK_URL": "http://127.0.0.1:1/hook", "SOAR_RULES": `[{"name":"all","query":"*","condition":"status >= 0"}]`,
	})))
	if status, _, body := do(t, "POST", sc.URL+"/queries/topology_full/execute", map[string]string{"X-API-Key": testKey}, ""); status != 200 {
		t.Errorf("API key under an expired key = %d %s, want 200", status, body)
	}
	status, _, body := do(t, "POST", sc.URL+"/queries/topology_full/execute", bearer(t, idp, "alice"), "")
	if status != 403 || !strings.Contains(string(body), `"plan_required"`) ||
		!strings.Contains(string(body), "an OIDC bearer token needs the enterprise plan (oidc_sso); this sidecar runs the community plan, the licence key having expired") {
		t.Errorf("bearer token under an expired key = %d %s, want 403 plan_required naming the enterprise plan", status, body)
	}
	for _, want := range []string{"SOAR webhooks are off", "OIDC sign-in answers 403 plan_required"} {
		if !strings.Contains(sc.Log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, sc.Log)
		}
	}
}
