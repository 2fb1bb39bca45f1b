//go:build !standard

package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAzure is Entra ID's token endpoint and one Key Vault, built from
// their documented HTTP APIs: instance and OpenID discovery and the client-credentials
// grant on login.microsoftonline.com, and Key Vault's challenge (401 with
// WWW-Authenticate naming the authority and resource) followed by
// GET /secrets/{name}/ with the bearer token.
type fakeAzure struct {
	tenant, clientID, clientSecret string
	secrets                        map[string]string
	token                          string
	mu                             sync.Mutex
	unexpected                     []string
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	login := "https://login.microsoftonline.com/" + f.tenant
	switch {
	case r.Host == "login.microsoftonline.com" && r.URL.Path == "/common/discovery/instance":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"api-version":               "1.1",
			"tenant_discovery_endpoint": login + "/v2.0/.well-known/openid-configuration",
			"metadata": []map[string]any{{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
				"aliases": []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}}},
		})
	case r.Host == "login.microsoftonline.com" && r.URL.Path == "/"+f.tenant+"/v2.0/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":         login + "/oauth2/v2.0/token",
			"authorization_endpoint": login + "/oauth2/v2.0/authorize",
			"issuer":                 login + "/v2.0",
		})
	case r.Host == "login.microsoftonline.com" && r.Method == "POST" && r.URL.Path == "/"+f.tenant+"/oauth2/v2.0/token":
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != f.clientID ||
			r.Form.Get("client_secret") != f.clientSecret || !slices.Contains(strings.Fields(r.Form.Get("scope")), "https://vault.azure.net/.default") {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": f.token})
	case r.Host == "mesh.vault.azure.net" && r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/secrets/"):
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="`+login+`", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`)
			return
		}
		name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/secrets/"), "/")
		v, ok := f.secrets[name]
		if !ok || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) %s was not found in this key vault."}}`, name)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": v, "id": "https://mesh.vault.azure.net/secrets/" + name + "/4387e9f3d6e14c459867679a90fd0f79",
			"attributes": map[string]any{"enabled": true, "created": 1700000000, "updated": 1700000000, "recoveryLevel": "Recoverable+Purgeable"}})
	default:
		f.mu.Lock()
		f.unexpected = append(f.unexpected, r.Method+" "+r.Host+r.URL.String())
		f.mu.Unlock()
		http.NotFound(w, r)
	}
}

// startAzure serves the fake over TLS (the SDKs send tokens over HTTPS
// only) and routes every host the SDKs dial to it through testTransport.
func startAzure(t *testing.T) *fakeAzure {
	f := &fakeAzure{tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientID: "mesh-client", clientSecret: "mesh-client-secret",
		token: "fake-access-token", secrets: map[string]string{
			"meshoptixiq": `{"OIDC_CLIENT_SECRET":"azure-oidc","API_TOKEN":"azure-token"}`,
			"not-json":    "hunter2",
			"nested":      `{"A":{"B":"c"}}`,
		}}
	s := httptest.NewTLSServer(f)
	t.Cleanup(s.Close)
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	u, _ := url.Parse(s.URL)
	var d net.Dialer
	testTransport = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, u.Host)
		},
		// httptest's certificate is issued to example.com.
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
	}}
	t.Cleanup(func() {
		testTransport = nil
		if len(f.unexpected) > 0 {
			t.Errorf("requests the fake does not know: %q", f.unexpected)
		}
	})
	for k, v := range map[string]string{"AZURE_TENANT_ID": f.tenant, "AZURE_CLIENT_ID": f.clientID, "AZURE_CLIENT_SECRET": f.clientSecret,
		"AZURE_AUTHORITY_HOST": "", "AZURE_FEDERATED_TOKEN_FILE": "", "AZURE_CLIENT_CERTIFICATE_PATH": "", "AZURE_TOKEN_CREDENTIALS": ""} {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k) // the SDK treats a set-but-empty variable as a value
		}
	}
	return f
}

func TestAzureKeyVault(t *testing.T) {
	startAzure(t)
	got, err := Environ(context.Background(), envOf(map[string]string{"SECRETS_PROVIDER": "azure", "AZURE_KEYVAULT_URL": "https://mesh.vault.azure.net"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(got, "OIDC_CLIENT_SECRET"); v != "azure-oidc" {
		t.Errorf("OIDC_CLIENT_SECRET = %q, want azure-oidc (environ %q)", v, got)
	}
}

func TestAzureFailures(t *testing.T) {
	f := startAzure(t)
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	for _, tc := range []struct{ name, secret, clientSecret, want string }{
		{"absent", "absent", f.clientSecret, "answered 404 SecretNotFound"},
		{"not json", "not-json", f.clientSecret, "not a JSON object of strings"},
		{"nested", "nested", f.clientSecret, `"A" is an object`},
		{"wrong client secret", "meshoptixiq", "wrong", "authentication for the Key Vault at https://mesh.vault.azure.net failed"},
	} {
		t.Setenv("AZURE_CLIENT_SECRET", tc.clientSecret)
		_, err := Environ(context.Background(), envOf(map[string]string{"SECRETS_PROVIDER": "azure",
			"AZURE_KEYVAULT_URL": "https://mesh.vault.azure.net", "AZURE_SECRET_NAME": tc.secret}), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SECRETS_PROVIDER=azure: AZURE_SECRET_NAME="+tc.secret) {
			t.Errorf("%s: err = %v, want one naming the provider, the secret and %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error repeats the secret: %v", tc.name, err)
		}
	}
}
