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

// Enterprise code of each pod binary: packages the default build links and
// the standard build must not.
var enterprise = map[string][]string{
	"apiserver":    {"github.com/hashicorp/vault/api", "github.com/aws/aws-sdk-go-v2/service/secretsmanager", "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets", "cloud.google.com/go/secretmanager/apiv1", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"},
	"authsidecar":  {"github.com/hashicorp/vault/api", "github.com/aws/aws-sdk-go-v2/service/secretsmanager", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"},
	"auditshipper": {"github.com/hashicorp/vault/api", "cloud.google.com/go/secretmanager/apiv1", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"},
	"nodeagent":    {"github.com/hashicorp/vault/api"},
}

func TestStandardBuildLeavesEnterpriseCodeOut(t *testing.T) {
	for bin, pkgs := range enterprise {
		full, std := deps(t, "", bin), deps(t, "standard", bin)
		for _, p := range pkgs {
			if !slices.Contains(full, p) {
				t.Errorf("the default build of %s does not link %s", bin, p)
			}
			if slices.Contains(std, p) {
				t.Errorf("the standard build of %s links %s", bin, p)
			}
		}
		// Both builds carry the edition, and the tracing core (spans are
		// made either way; only their export is enterprise).
		for _, p := range []string{module + "common/edition", "go.opentelemetry.io/otel/sdk/trace"} {
			if bin != "nodeagent" && !slices.Contains(std, p) {
				t.Errorf("the standard build of %s does not link %s", bin, p)
			}
		}
		t.Logf("%s: %d packages in the default build, %d in the standard", bin, len(full), len(std))
	}
}

// A binary built standard refuses an enterprise setting, naming it, and
// starts without one.
func TestStandardBinaryRefusesEnterpriseSettings(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "authsidecar")
	build := exec.Command("go", "build", "-tags", "standard", "-o", bin, module+"authsidecar")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags standard: %v\n%s", err, out)
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "API_KEY=" + strings.Repeat("k", 40), "LISTEN_ADDR=127.0.0.1:0"}
	for _, c := range []struct{ setting, names string }{
		{"SECRETS_PROVIDER=vault", "SECRETS_PROVIDER"},
		{"DD_AGENT_HOST=127.0.0.1", "DD_AGENT_HOST"},
		{"AUTH_MODE=oidc", "AUTH_MODE"},
		{"SOAR_WEBHOOK_URL=https://soar.example/hook", "SOAR_WEBHOOK_URL"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(slices.Clone(base), c.setting)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("standard authsidecar with %s started; want a refusal", c.setting)
			continue
		}
		if s := string(out); !strings.Contains(s, c.names) || !strings.Contains(s, "standard build") {
			t.Errorf("standard authsidecar with %s said:\n%s\nwant the variable and \"standard build\"", c.setting, s)
		}
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "standard") {
		t.Errorf("standard authsidecar --version = %q, %v; want it to say standard", out, err)
	}
}
