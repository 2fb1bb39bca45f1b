package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
	"github.com/meshoptixiq/mesh/authsidecar/testidp"
	"github.com/meshoptixiq/mesh/common/testenv"
)

const seedsPolicy = `roles:
  admin:
    allow: ["*"]
  network:
    allow: ["topology_*", "ips_in_subnet", "locate_endpoint_by_ip", "all_devices", "devices_*", "interfaces_*"]
  security:
    allow: ["firewall_*", "path_analysis", "deny_rules_summary", "blast_radius_*"]
  helpdesk:
    allow: ["locate_endpoint_by_ip", "ips_in_subnet", "device_neighbors"]
groups:
  "network-ops-team": network
  "security-analysts": security
  "noc-helpdesk": helpdesk
  "platform-admins": admin
`

func startIdP(t *testing.T) *testidp.IdP {
	t.Helper()
	idp, err := testidp.Start("meshq")
	if err != nil {
		t.Fatalf("starting the OpenID provider: %v", err)
	}
	t.Cleanup(idp.Stop)
	for _, u := range []testidp.User{
		{ID: "alice", Secret: "a", Claims: map[string]any{"preferred_username": "alice", "groups": []any{"network-ops-team", "noc-helpdesk"}}},
		{ID: "sam", Secret: "s", Claims: map[string]any{"preferred_username": "sam", "groups": []any{"security-analysts"}}},
		{ID: "root", Secret: "r", Claims: map[string]any{"preferred_username": "root", "groups": []any{"platform-admins"}}},
		{ID: "nobody", Secret: "n", Claims: map[string]any{"preferred_username": "nobody", "groups": []any{"unknown-group"}}},
		{ID: "azure", Secret: "z", Claims: map[string]any{"preferred_username": "azure",
			"_claim_names": map[string]any{"groups": "src1"}, "_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/x"}}}},
	} {
		idp.AddUser(u)
	}
	return idp
}

func bearer(t *testing.T, idp *testidp.IdP, user string) map[string]string {
	t.Helper()
	tok, err := idp.Token(context.Background(), user)
	if err != nil {
		t.Fatalf("Token(%s) = %v", user, err)
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

func oidcEnv(idp *testidp.IdP, extra map[string]string) map[string]string {
	env := map[string]string{"AUTH_MODE": "both", "OIDC_ISSUER": idp.Issuer, "OIDC_CLIENT_ID": "meshq", "RBAC_POLICY": seedsPolicy}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestOIDCAndRBACThroughTheSidecar(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	auditFile := t.TempDir() + "/audit.jsonl"
	sc := startSidecar(t, up.Addr, oidcEnv(idp, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": auditFile}))
	eventually(t, "readyz with JWKS fetched", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 200, string(body)
	})
	alice, sam, root, nobody := bearer(t, idp, "alice"), bearer(t, idp, "sam"), bearer(t, idp, "root"), bearer(t, idp, "nobody")
	cases := []struct {
		who    string
		hdr    map[string]string
		method string
		path   string
		want   int
	}{
		{"alice", alice, "POST", "/queries/topology_full/execute", 200},
		{"alice", alice, "POST", "/queries/locate_endpoint_by_ip/execute", 200}, // helpdesk ∪ network
		{"alice", alice, "POST", "/queries/firewall_rules_by_device/execute", 403},
		{"alice", alice, "POST", "/admin/rbac/reload", 403},
		{"alice", alice, "GET", "/not/in/the/table", 403},
		{"alice", alice, "POST", "/graph/ingest", 403},
		{"sam", sam, "POST", "/queries/firewall_rules_by_device/execute", 200},
		{"sam", sam, "GET", "/queries/firewall_rules_by_device", 200},
		{"sam", sam, "POST", "/queries/all_devices/execute", 403},
		{"root", root, "POST", "/admin/rbac/reload", 200},
		{"root", root, "GET", "/not/in/the/table", 200},
		{"nobody", nobody, "POST", "/queries/all_devices/execute", 403},
		{"api key", map[string]string{"X-API-Key": testKey}, "POST", "/graph/ingest", 200},
		{"azure overage", bearer(t, idp, "azure"), "POST", "/queries/all_devices/execute", 401},
		{"garbage bearer", map[string]string{"Authorization": "Bearer abc.def.ghi"}, "GET", "/queries/", 401},
	}
	for _, c := range cases {
		status, _, body := do(t, c.method, sc.URL+c.path, c.hdr, `{"parameters":{"hostname":"core-sw-01"}}`)
		if status != c.want {
			t.Errorf("%s %s %s = %d %s, want %d", c.who, c.method, c.path, status, body, c.want)
		}
	}
	// The apiserver learns the user, the union of roles and their grants.
	_, _, body := do(t, "POST", sc.URL+"/queries/topology_full/execute", alice, `{}`)
	seen := decode[fakeupstream.Seen](t, body)
	got := map[string]string{}
	for _, k := range []string{"X-Meshq-User", "X-Meshq-Role", "X-Meshq-Grants", "X-Meshq-Auth"} {
		got[k] = strings.Join(seen.Headers[k], "|")
	}
	want := map[string]string{"X-Meshq-User": "alice", "X-Meshq-Role": "helpdesk,network", "X-Meshq-Auth": "oidc",
		"X-Meshq-Grants": "topology_*,ips_in_subnet,locate_endpoint_by_ip,all_devices,devices_*,interfaces_*,device_neighbors"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity headers for alice (-want +got):\n%s", diff)
	}
	// DEBUG logs each decision with role and matched pattern.
	if !strings.Contains(sc.Log.String(), `"msg":"rbac decision"`) || !strings.Contains(sc.Log.String(), `"matched_pattern":"topology_*"`) {
		t.Errorf("log lacks DEBUG rbac decisions with matched_pattern")
	}
	// Audit: a denial names the user, groups, outcome and the policy version.
	recs := readAudit(t, auditFile, len(cases)+1)
	var denial, allow *struct{ i int }
	for i, r := range recs {
		if r.Event == "query" && r.User == "alice" && r.Path == "/queries/firewall_rules_by_device/execute" {
			denial = &struct{ i int }{i}
		}
		if allow == nil && r.Event == "query" && r.User == "alice" && r.Path == "/queries/topology_full/execute" && r.Status == 200 {
			allow = &struct{ i int }{i}
		}
	}
	if denial == nil || allow == nil {
		t.Fatalf("audit lacks alice's allow and denial records: %+v", recs)
	}
	d, a := recs[denial.i], recs[allow.i]
	if d.Outcome != "deny" || d.Status != 403 || d.Event != "query" || d.Query != "firewall_rules_by_device" || d.Auth != "oidc" ||
		!strings.HasPrefix(d.PolicyVersion, "sha256:") || !strings.HasPrefix(d.KeyFP, "sha256:") || len(d.Groups) != 2 {
		t.Errorf("denial record = %+v", d)
	}
	if a.Outcome != "allow" || a.MatchedPattern != "topology_*" || a.Role != "helpdesk,network" || a.RowCount != 3 || a.PlanTier != "enterprise" ||
		string(a.Params) != `{"hostname":"core-sw-01"}` || a.ClientIP != "127.0.0.1" {
		t.Errorf("allow record = %+v params %s", a, a.Params)
	}
	logins := 0
	for _, r := range recs {
		if r.Event == "login" && r.User == "alice" {
			logins++
		}
	}
	if logins != 1 {
		t.Errorf("login records for alice = %d, want 1 (first use of her token)", logins)
	}
	for _, r := range recs {
		line, _ := json.Marshal(r)
		if strings.Contains(string(line), testKey) || strings.Contains(string(line), strings.TrimPrefix(alice["Authorization"], "Bearer ")) {
			t.Errorf("audit record carries a credential: %s", line)
		}
	}
	if strings.Contains(sc.Log.String(), testKey) {
		t.Error("log carries the API key")
	}
}

func TestAuthModes(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	oidcOnly := startSidecar(t, up.Addr, oidcEnv(idp, map[string]string{"AUTH_MODE": "oidc", "API_KEY": ""}))
	if status, _, body := do(t, "GET", oidcOnly.URL+"/queries/", map[string]string{"X-API-Key": testKey}, ""); status != 401 || !strings.Contains(string(body), "not accepted") {
		t.Errorf("AUTH_MODE=oidc with an API key = %d %s, want 401 not accepted", status, body)
	}
	keysOnly := startSidecar(t, up.Addr, nil)
	if status, _, body := do(t, "GET", keysOnly.URL+"/queries/", bearer(t, idp, "root"), ""); status != 401 || !strings.Contains(string(body), "not accepted") {
		t.Errorf("AUTH_MODE=api_key with a bearer = %d %s, want 401 not accepted", status, body)
	}
	// Named keys from API_KEYS_FILE: each tool has its own identity.
	keyFile := t.TempDir() + "/keys"
	ciKey := strings.Repeat("c", 32)
	if err := os.WriteFile(keyFile, []byte("# automation\nci:"+ciKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	named := startSidecar(t, up.Addr, map[string]string{"API_KEYS_FILE": keyFile})
	_, _, body := do(t, "GET", named.URL+"/queries/", map[string]string{"X-API-Key": ciKey}, "")
	if u := decode[fakeupstream.Seen](t, body).Headers["X-Meshq-User"]; len(u) != 1 || u[0] != "ci" {
		t.Errorf("named key user = %v, want [ci]", u)
	}
	// IdP unreachable at start: bearer requests get 503 (not 401), readyz 503.
	down := startSidecar(t, up.Addr, map[string]string{"AUTH_MODE": "both", "OIDC_ISSUER": "http://127.0.0.1:1", "OIDC_CLIENT_ID": "meshq"})
	if status, _, _ := do(t, "GET", down.URL+"/queries/", bearer(t, idp, "root"), ""); status != 503 {
		t.Errorf("bearer with the IdP never reached = %d, want 503", status)
	}
	if status, _, body := do(t, "GET", down.URL+"/readyz", nil, ""); status != 503 || !strings.Contains(string(body), "not discovered") {
		t.Errorf("readyz with the IdP never reached = %d %s, want 503 naming jwks", status, body)
	}
}

func TestPersonalAccessTokens(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	redis := testenv.StartRedis(t)
	env := oidcEnv(idp, map[string]string{"REDIS_URL": redis.URL()})
	a := startSidecar(t, up.Addr, env)
	b := startSidecar(t, up.Addr, env) // a second pod: tokens are shared through Redis
	alice := bearer(t, idp, "alice")
	status, _, body := do(t, "POST", a.URL+"/auth/tokens", alice, `{"name":"laptop cli","expires_in":3600}`)
	if status != 201 {
		t.Fatalf("POST /auth/tokens = %d %s, want 201", status, body)
	}
	created := decode[struct {
		Token, ID, Name string
		KeyFP           string `json:"key_fp"`
	}](t, body)
	if !strings.HasPrefix(created.Token, "mqp_") || created.ID == "" || created.Name != "laptop cli" {
		t.Fatalf("created token = %+v", created)
	}
	// Stored hashed: no Redis value holds the secret.
	keys, err := redisKeys(redis.Addr(), "meshq:pat:*")
	if err != nil || len(keys) < 2 {
		t.Fatalf("redis keys meshq:pat:* = %v, %v", keys, err)
	}
	for _, k := range keys {
		if strings.Contains(k, created.Token) {
			t.Errorf("redis key holds the token: %s", k)
		}
	}
	// Accepted as X-API-Key and as bearer, on the other pod, with alice's
	// roles (not admin's).
	for _, hdr := range []map[string]string{{"X-API-Key": created.Token}, {"Authorization": "Bearer " + created.Token}} {
		if status, _, body := do(t, "POST", b.URL+"/queries/topology_full/execute", hdr, `{}`); status != 200 ||
			decode[fakeupstream.Seen](t, body).Headers["X-Meshq-Auth"][0] != "pat" {
			t.Errorf("PAT via %v = %d %s, want 200 with auth pat", hdr, status, body)
		}
		if status, _, _ := do(t, "POST", b.URL+"/queries/firewall_rules_by_device/execute", hdr, `{}`); status != 403 {
			t.Errorf("PAT for a query alice may not run = %d, want 403", status)
		}
	}
	// A PAT cannot mint PATs; other users cannot see or revoke it.
	if status, _, _ := do(t, "POST", a.URL+"/auth/tokens", map[string]string{"X-API-Key": created.Token}, `{}`); status != 403 {
		t.Errorf("POST /auth/tokens with a PAT = %d, want 403", status)
	}
	sam := bearer(t, idp, "sam")
	_, _, body = do(t, "GET", a.URL+"/auth/tokens", sam, "")
	if strings.Contains(string(body), created.ID) {
		t.Errorf("sam's token list shows alice's token: %s", body)
	}
	if status, _, _ := do(t, "DELETE", a.URL+"/auth/tokens/"+created.ID, sam, ""); status != 404 {
		t.Errorf("sam revoking alice's token = %d, want 404", status)
	}
	status, _, body = do(t, "GET", a.URL+"/auth/tokens", alice, "")
	list := decode[struct{ Tokens []struct{ ID, Name string } }](t, body)
	if status != 200 || len(list.Tokens) != 1 || list.Tokens[0].ID != created.ID || strings.Contains(string(body), created.Token) {
		t.Errorf("GET /auth/tokens = %d %s, want alice's one token without the secret", status, body)
	}
	// A PAT may revoke itself (meshq logout), and no other token.
	status, _, body = do(t, "POST", a.URL+"/auth/tokens", alice, `{"name":"second"}`)
	second := decode[struct{ Token, ID string }](t, body)
	if status != 201 {
		t.Fatalf("POST /auth/tokens (second) = %d %s", status, body)
	}
	if status, _, _ := do(t, "DELETE", a.URL+"/auth/tokens/"+created.ID, map[string]string{"X-API-Key": second.Token}, ""); status != 403 {
		t.Errorf("a PAT revoking another token of its owner = %d, want 403", status)
	}
	if status, _, body := do(t, "DELETE", a.URL+"/auth/tokens/"+second.ID, map[string]string{"X-API-Key": second.Token}, ""); status != 204 {
		t.Errorf("a PAT revoking itself = %d %s, want 204", status, body)
	}
	if status, _, _ := do(t, "GET", a.URL+"/queries/", map[string]string{"X-API-Key": second.Token}, ""); status != 401 {
		t.Errorf("a PAT after revoking itself = %d, want 401", status)
	}
	// Bad requests.
	for _, bad := range []string{`{"expires_in":"soon"}`, `{"nme":"x"}`, `not json`, `{"expires_in":99999999999}`} {
		if status, _, _ := do(t, "POST", a.URL+"/auth/tokens", alice, bad); status != 400 {
			t.Errorf("POST /auth/tokens %s = %d, want 400", bad, status)
		}
	}
	// Revoked on pod a: refused on pod a at once.
	if status, _, _ := do(t, "DELETE", a.URL+"/auth/tokens/"+created.ID, alice, ""); status != 204 {
		t.Fatalf("DELETE own token = %d, want 204", status)
	}
	if status, _, _ := do(t, "GET", a.URL+"/queries/", map[string]string{"X-API-Key": created.Token}, ""); status != 401 {
		t.Errorf("revoked PAT = %d, want 401", status)
	}
	if status, _, _ := do(t, "GET", a.URL+"/queries/", map[string]string{"X-API-Key": "mqp_forged"}, ""); status != 401 {
		t.Errorf("forged PAT = %d, want 401", status)
	}
	// Redis down: PAT use answers 503, never 200 or a crash.
	redis.Stop()
	if status, _, _ := do(t, "GET", a.URL+"/queries/", map[string]string{"X-API-Key": "mqp_whatever"}, ""); status != 503 {
		t.Errorf("PAT lookup with Redis down = %d, want 503", status)
	}
}

// TestPathNormalisationDecidesWhatIsForwarded: dot segments, doubled
// slashes and percent-encoding are resolved before the permission is
// chosen, and the apiserver receives exactly the path that was authorised.
func TestPathNormalisationDecidesWhatIsForwarded(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	sc := startSidecar(t, up.Addr, oidcEnv(idp, nil))
	alice := bearer(t, idp, "alice")["Authorization"]
	cases := []struct {
		path       string
		wantStatus string
		wantPath   string
	}{
		{"/queries/all_devices/../firewall_rules_by_device/execute", "403", ""},
		{"/queries/x/../../admin/rbac/reload", "403", ""},
		{"/queries/%66irewall_rules_by_device/execute", "403", ""},
		{"//queries//topology_full/./execute", "200", "/queries/topology_full/execute"},
		{"/queries/firewall_x/../topology_full/execute", "200", "/queries/topology_full/execute"},
	}
	for _, c := range cases {
		up.Reset()
		out := raw(t, sc.Addr, "POST "+c.path+" HTTP/1.1\r\nHost: x\r\nAuthorization: "+alice+"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
		if !strings.HasPrefix(out, "HTTP/1.1 "+c.wantStatus) {
			t.Errorf("POST %s as alice = %.40q, want %s", c.path, out, c.wantStatus)
		}
		seen := up.Seen()
		if c.wantPath == "" {
			if len(seen) != 0 {
				t.Errorf("POST %s: upstream saw %+v, want nothing", c.path, seen)
			}
			continue
		}
		if len(seen) != 1 || seen[0].URI != c.wantPath {
			t.Errorf("POST %s: upstream saw %+v, want exactly %s", c.path, seen, c.wantPath)
		}
	}
}

// TestNamedKeyRoles: a named key of API_KEYS_FILE may carry a role of the
// policy (name:role:key) and then has that role's rights only; name:key
// keeps meaning admin. A role the policy lacks, or a role without a
// policy, stops the start naming the line.
func TestNamedKeyRoles(t *testing.T) {
	up := startUpstream(t)
	keyFile := t.TempDir() + "/keys"
	ciKey, opsKey := strings.Repeat("c", 32), strings.Repeat("o", 32)
	if err := os.WriteFile(keyFile, []byte("ci:network:"+ciKey+"\nops:"+opsKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, up.Addr, map[string]string{"API_KEYS_FILE": keyFile, "RBAC_POLICY": seedsPolicy})
	ci, ops := map[string]string{"X-API-Key": ciKey}, map[string]string{"X-API-Key": opsKey}
	status, _, body := do(t, "POST", sc.URL+"/queries/all_devices/execute", ci, `{}`)
	if status != 200 {
		t.Fatalf("ci (role network) running all_devices = %d %s, want 200", status, body)
	}
	seen := decode[fakeupstream.Seen](t, body)
	if u, r, a := seen.Headers["X-Meshq-User"], seen.Headers["X-Meshq-Role"], seen.Headers["X-Meshq-Auth"]; len(u) != 1 || u[0] != "ci" || len(r) != 1 || r[0] != "network" || len(a) != 1 || a[0] != "api_key" {
		t.Errorf("ci identity upstream: user %v role %v auth %v, want ci, network, api_key", u, r, a)
	}
	if g := seen.Headers["X-Meshq-Grants"]; len(g) != 1 || g[0] == "*" || !strings.Contains(g[0], "topology_*") {
		t.Errorf("ci grants upstream = %v, want the network role's patterns", g)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/queries/firewall_rules_by_device/execute"}, {"POST", "/admin/rbac/reload"}, {"POST", "/graph/ingest"}, {"GET", "/some/unmapped"}} {
		if status, _, body := do(t, c.method, sc.URL+c.path, ci, `{}`); status != 403 {
			t.Errorf("ci (role network) %s %s = %d %s, want 403", c.method, c.path, status, body)
		}
	}
	if status, _, body := do(t, "POST", sc.URL+"/admin/rbac/reload", ops, ""); status != 200 {
		t.Errorf("ops (name:key, admin) reloading the policy = %d %s, want 200", status, body)
	}

	for name, c := range map[string]struct{ file, policy, want string }{
		"unknown role": {"ok:" + opsKey + "\nci:nosuch:" + ciKey + "\n", seedsPolicy, "keys:2: key \"ci\": role \"nosuch\" is not in the RBAC policy"},
		"no policy":    {"ci:network:" + ciKey + "\n", "", "keys:1: key \"ci\": role \"network\" needs an RBAC policy"},
	} {
		path := t.TempDir() + "/keys"
		if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run(t.Context(), nil, mapEnv(map[string]string{"API_KEYS_FILE": path, "RBAC_POLICY": c.policy, "LISTEN_ADDR": "127.0.0.1:0"}), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: run = %v, want an error naming API_KEYS_FILE and %q", name, err, c.want)
		}
	}
}

// redisSet stores value at key with a raw RESP SET.
func redisSet(t *testing.T, addr, key, value string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("SET %s = %q, %v", key, line, err)
	}
}

// TestPATsOnlyFromOIDCLogins: no API key mints personal access tokens,
// the master key included, and a token is refused once the login that
// minted it is gone: tokens stored without an issuer (as API keys could
// mint them) and tokens of another issuer.
func TestPATsOnlyFromOIDCLogins(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	redis := testenv.StartRedis(t)
	keyFile := t.TempDir() + "/keys"
	ciKey := strings.Repeat("c", 32)
	if err := os.WriteFile(keyFile, []byte("ci:"+ciKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, up.Addr, oidcEnv(idp, map[string]string{"REDIS_URL": redis.URL(), "API_KEYS_FILE": keyFile}))
	for name, key := range map[string]string{"master key": testKey, "named key": ciKey} {
		if status, _, body := do(t, "POST", sc.URL+"/auth/tokens", map[string]string{"X-API-Key": key}, `{"name":"ci"}`); status != 403 {
			t.Errorf("POST /auth/tokens with the %s = %d %s, want 403", name, status, body)
		}
	}
	if keys, _ := redisKeys(redis.Addr(), "meshq:pat:tok:*"); len(keys) != 0 {
		t.Errorf("tokens stored after API keys asked: %v, want none", keys)
	}

	// A token the master key minted before this rule: no issuer stored.
	legacy := "mqp_minted-by-the-master-key-before-its-rotation"
	sum := sha256.Sum256([]byte(legacy))
	redisSet(t, redis.Addr(), "meshq:pat:tok:"+hex.EncodeToString(sum[:]),
		`{"id":"0011223344556677","name":"old","owner":"admin","groups":null,"created":"2025-01-01T00:00:00Z","expires":"2099-01-01T00:00:00Z","key_fp":"sha256:000000000000"}`)
	if status, _, body := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": legacy}, ""); status != 401 || !strings.Contains(string(body), "not minted by a login") {
		t.Errorf("PAT stored without an issuer = %d %s, want 401", status, body)
	}

	status, _, body := do(t, "POST", sc.URL+"/auth/tokens", bearer(t, idp, "alice"), `{"name":"laptop"}`)
	if status != 201 {
		t.Fatalf("POST /auth/tokens as alice = %d %s, want 201", status, body)
	}
	tok := decode[struct{ Token string }](t, body).Token
	if status, _, body := do(t, "POST", sc.URL+"/queries/all_devices/execute", map[string]string{"X-API-Key": tok}, `{}`); status != 200 {
		t.Errorf("alice's PAT on her issuer's sidecar = %d %s, want 200", status, body)
	}
	// The same store behind a sidecar of another issuer, and of none.
	other := startIdP(t)
	moved := startSidecar(t, up.Addr, oidcEnv(other, map[string]string{"REDIS_URL": redis.URL()}))
	keysOnly := startSidecar(t, up.Addr, map[string]string{"REDIS_URL": redis.URL()})
	for name, p := range map[string]*sidecarProc{"another issuer": moved, "AUTH_MODE=api_key": keysOnly} {
		if status, _, body := do(t, "POST", p.URL+"/queries/all_devices/execute", map[string]string{"X-API-Key": tok}, `{}`); status != 401 {
			t.Errorf("alice's PAT on a sidecar with %s = %d %s, want 401", name, status, body)
		}
	}
}
