//go:build !standard

package secrets

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/crc32"
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

// fakeGCP is Secret Manager's REST API (GET /v1/{name}:access, errors as
// google.rpc.Status) and Google's OAuth token endpoint for service-account
// keys (the JWT-bearer grant), from their documentation. It accepts an
// access token it issued or a self-signed JWT from the key, the two ways
// Google's client libraries authenticate with a service-account key.
type fakeGCP struct {
	key      *rsa.PrivateKey
	secrets  map[string]string
	crcWrong bool
	url      string
}

const gcpAccessToken = "ya29.fake-access-token"

func (f *fakeGCP) signedByKey(tok string) bool {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	var claims jwt.Claims
	return parsed.Claims(&f.key.PublicKey, &claims) == nil && claims.Issuer == "mesh@mesh-prod.iam.gserviceaccount.com"
}

func (f *fakeGCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == "POST" && r.URL.Path == "/token" {
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || !f.signedByKey(r.Form.Get("assertion")) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, gcpAccessToken)
		return
	}
	status := func(code int, st, msg string) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"status":%q}}`, code, msg, st)
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), ":access")
	if r.Method != "GET" || !ok {
		status(404, "NOT_FOUND", "unknown method")
		return
	}
	bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if bearer != gcpAccessToken && !f.signedByKey(bearer) {
		status(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
		return
	}
	v, found := f.secrets[name]
	if !found {
		status(404, "NOT_FOUND", "Secret ["+name+"] not found or has no versions.")
		return
	}
	sum := int64(crc32.Checksum([]byte(v), crc32.MakeTable(crc32.Castagnoli)))
	if f.crcWrong {
		sum++
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "payload": map[string]any{
		"data": base64.StdEncoding.EncodeToString([]byte(v)), "dataCrc32c": strconv.FormatInt(sum, 10)}})
}

// startGCP serves the fake and writes the service-account key file that
// GOOGLE_APPLICATION_CREDENTIALS names, its token_uri pointing at the fake.
func startGCP(t *testing.T) *fakeGCP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGCP{key: key, secrets: map[string]string{
		"projects/mesh-prod/secrets/mesh/versions/latest":  `{"REDIS_URL":"redis://:gcp-pass@127.0.0.1:6379/0"}`,
		"projects/mesh-prod/secrets/plain/versions/latest": "hunter2",
	}}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	f.url = s.URL
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "mesh-prod", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "mesh@mesh-prod.iam.gserviceaccount.com", "client_id": "100000000000000000001",
		"token_uri": s.URL + "/token",
	})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	// No metadata server and no gcloud configuration may answer instead.
	t.Setenv("CLOUDSDK_CONFIG", t.TempDir())
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	return f
}

func gcpEnv(f *fakeGCP, name string) func(string) string {
	return envOf(map[string]string{"SECRETS_PROVIDER": "gcp", "GCP_SECRET_NAME": name, "GCP_SECRETMANAGER_ENDPOINT": f.url})
}

func TestGCPSecretManager(t *testing.T) {
	f := startGCP(t)
	got, err := Environ(context.Background(), gcpEnv(f, "projects/mesh-prod/secrets/mesh/versions/latest"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(got, "REDIS_URL"); v != "redis://:gcp-pass@127.0.0.1:6379/0" {
		t.Errorf("REDIS_URL = %q (environ %q)", v, got)
	}
}

func TestGCPFailures(t *testing.T) {
	f := startGCP(t)
	for _, tc := range []struct{ name, want string }{
		{"projects/mesh-prod/secrets/absent/versions/latest", "answered 404"},
		{"projects/mesh-prod/secrets/plain/versions/latest", "not a JSON object of strings"},
		{"mesh", "not of the form projects/PROJECT/secrets/SECRET/versions/VERSION"},
	} {
		_, err := Environ(context.Background(), gcpEnv(f, tc.name), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SECRETS_PROVIDER=gcp: GCP_SECRET_NAME="+tc.name) {
			t.Errorf("%s: err = %v, want one naming the provider, the secret and %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error repeats the secret: %v", tc.name, err)
		}
	}
	f.crcWrong = true
	var err error
	if _, err := Environ(context.Background(), gcpEnv(f, "projects/mesh-prod/secrets/mesh/versions/latest"), nil); err == nil || !strings.Contains(err.Error(), "CRC32C") {
		t.Errorf("corrupted payload: err = %v", err)
	}
	// A key the fake no longer trusts, as after a key rotation.
	if f.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if _, err := Environ(context.Background(), gcpEnv(f, "projects/mesh-prod/secrets/mesh/versions/latest"), nil); err == nil || !strings.Contains(err.Error(), "GCP_SECRET_NAME") ||
		!strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), "\n") {
		t.Errorf("untrusted key: err = %q, want one line naming GCP_SECRET_NAME and the token endpoint's refusal", err)
	}
}
