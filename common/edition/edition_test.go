package edition_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/meshoptixiq/mesh/"

// deps is what `go list -deps` says the binary links in a build.
func deps(t *testing.T, tags, pkg string) []string {
	t.Helper()
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, module+pkg)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// enterpriseRoots are the enterprise code: no standard binary may link a
// package at or under one of these paths. Secrets providers (and the cloud
// SDKs under them), APM export (the OTLP exporters; the OTLP protobufs
// stay, the apiserver receives spans in them), OIDC (our
// verifier, go-oidc and go-jose), SOAR webhooks, and the Splunk and
// Elasticsearch/OpenSearch audit sinks.
var enterpriseRoots = []string{
	"github.com/hashicorp/vault/api",
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager",
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets",
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity",
	"cloud.google.com/go/secretmanager",
	"go.opentelemetry.io/otel/exporters/otlp",
	"github.com/coreos/go-oidc",
	"github.com/go-jose/go-jose",
	module + "authsidecar/oidc",
	module + "authsidecar/soar",
	module + "auditshipper/sink/splunk",
	module + "auditshipper/sink/elastic",
}

func underRoot(pkg string) (string, bool) {
	for _, r := range enterpriseRoots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return r, true
		}
	}
	return "", false
}

// enterprise is, for each pod binary, enterprise code its default build
// links: if a package moves or is renamed, this list (and so the check
// that the standard build goes without it) must follow.
var enterprise = map[string][]string{
	"apiserver": {"github.com/hashicorp/vault/api", "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
		"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets", "cloud.google.com/go/secretmanager/apiv1",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"},
	"authsidecar": {"github.com/hashicorp/vault/api", "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp",
		module + "authsidecar/oidc", "github.com/coreos/go-oidc/v3/oidc", "github.com/go-jose/go-jose/v4", module + "authsidecar/soar"},
	"auditshipper": {"github.com/hashicorp/vault/api", "cloud.google.com/go/secretmanager/apiv1",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
		module + "auditshipper/sink/splunk", module + "auditshipper/sink/elastic"},
	// The agent itself links none (nodeagent's TestAgentLinksNoSecretsManagerSDK):
	// its helper fetches its secrets.
	"nodeagent":             {},
	"nodeagent/secretsexec": {"github.com/hashicorp/vault/api", "github.com/aws/aws-sdk-go-v2/service/secretsmanager"},
}

// What the standard build keeps: the edition, spans (only their export is
// enterprise), API keys, and the stdout and webhook audit sinks.
var community = map[string][]string{
	"apiserver":    {module + "common/edition", "go.opentelemetry.io/otel/sdk/trace"},
	"authsidecar":  {module + "common/edition", "go.opentelemetry.io/otel/sdk/trace", module + "authsidecar/auth"},
	"auditshipper": {module + "common/edition", "go.opentelemetry.io/otel/sdk/trace", module + "auditshipper/sink"},
	"nodeagent":    {module + "common/edition"},
	// nodeagent/secretsexec: the standard build refuses SECRETS_PROVIDER.
	"nodeagent/secretsexec": {module + "common/edition"},
}

func TestStandardBuildLeavesEnterpriseCodeOut(t *testing.T) {
	for bin, pkgs := range enterprise {
		full, std := deps(t, "", bin), deps(t, "standard", bin)
		for _, p := range pkgs {
			if !slices.Contains(full, p) {
				t.Errorf("the default build of %s does not link %s", bin, p)
			}
		}
		for _, p := range std {
			if root, ok := underRoot(p); ok {
				t.Errorf("the standard build of %s links %s (enterprise code: %s)", bin, p, root)
			}
		}
		for _, p := range community[bin] {
			if !slices.Contains(std, p) {
				t.Errorf("the standard build of %s does not link %s", bin, p)
			}
		}
		t.Logf("%s: %d packages in the default build, %d in the standard", bin, len(full), len(std))
	}
}

func TestUnderRoot(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/coreos/go-oidc/v3/oidc":                               true,
		"github.com/go-jose/go-jose/v4/json":                              true,
		module + "authsidecar/oidc":                                       true,
		module + "authsidecar/oidcx":                                      false,
		module + "auditshipper/sink":                                      false,
		module + "auditshipper/sink/splunk":                               true,
		"go.opentelemetry.io/otel/sdk/trace":                              false,
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc": true,
	} {
		if _, got := underRoot(pkg); got != want {
			t.Errorf("underRoot(%q) = %v, want %v", pkg, got, want)
		}
	}
}

// buildStandard builds a pod binary with -tags standard.
func buildStandard(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-tags", "standard", "-o", bin, module+name)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags standard %s: %v\n%s", name, err, out)
	}
	return bin
}

// refusals runs bin once per setting on top of base and checks that it
// stops, naming the setting's variable and the standard build.
func refusals(t *testing.T, bin string, base []string, settings []string) {
	t.Helper()
	for _, setting := range settings {
		variable, _, _ := strings.Cut(setting, "=")
		cmd := exec.Command(bin)
		cmd.Env = append(slices.Clone(base), setting)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("standard %s with %s started; want a refusal", filepath.Base(bin), setting)
			continue
		}
		if s := string(out); !strings.Contains(s, variable+": ") || !strings.Contains(s, "standard build") {
			t.Errorf("standard %s with %s said:\n%s\nwant %q and \"standard build\"", filepath.Base(bin), setting, s, variable+": ")
		}
	}
}

// A binary built standard refuses an enterprise setting, naming it.
func TestStandardBinaryRefusesEnterpriseSettings(t *testing.T) {
	sidecar := buildStandard(t, "authsidecar")
	refusals(t, sidecar, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "API_KEY=" + strings.Repeat("k", 40), "LISTEN_ADDR=127.0.0.1:0"}, []string{
		"SECRETS_PROVIDER=vault",
		"DD_AGENT_HOST=127.0.0.1",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
		"AUTH_MODE=oidc",
		"AUTH_MODE=both",
		"SOAR_WEBHOOK_URL=https://soar.example/hook",
		`SOAR_RULES=[{"name":"bulk","query":"*","condition":"row_count > 50"}]`,
	})
	out, err := exec.Command(sidecar, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "standard") {
		t.Errorf("standard authsidecar --version = %q, %v; want it to say standard", out, err)
	}

	shipper := buildStandard(t, "auditshipper")
	dir := t.TempDir()
	refusals(t, shipper, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AUDIT_LOG_PATH=" + filepath.Join(dir, "audit.jsonl"),
		"SHIPPER_STATE_DIR=" + dir, "SHIPPER_LISTEN=127.0.0.1:0", "SPLUNK_HEC_URL=https://splunk.example:8088", "SPLUNK_HEC_TOKEN=t",
		"ES_URL=https://es.example:9200"}, []string{
		"AUDIT_LOG_BACKEND=splunk",
		"AUDIT_LOG_BACKEND=elasticsearch",
		"AUDIT_LOG_BACKEND=opensearch",
		"SECRETS_PROVIDER=aws",
	})
}
