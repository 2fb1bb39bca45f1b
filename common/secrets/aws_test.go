//go:build !standard

package secrets

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// startMoto runs moto's server mode and points the SDK's default chain at
// it through the environment, as a pod would be configured: static keys,
// AWS_ENDPOINT_URL, no region (it comes from the ARN), no config files
// and no instance metadata.
func startMoto(t *testing.T) string {
	bin := venvTool(t, "bin/moto_server")
	port := freePort(t)
	startServer(t, port, nil, bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	return endpoint
}

func createAWSSecret(t *testing.T, name, value string) string {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("eu-west-3"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret on moto: %v", err)
	}
	return *out.ARN
}

func TestAWSSecretsManager(t *testing.T) {
	startMoto(t)
	arn := createAWSSecret(t, "mesh/apiserver", `{"REDIS_URL":"redis://:aws-pass@127.0.0.1:6379/0","API_TOKEN":"aws-token"}`)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-3:") {
		t.Fatalf("moto returned ARN %q", arn)
	}
	got, err := Environ(context.Background(), envOf(map[string]string{"SECRETS_PROVIDER": "aws", "AWS_SECRET_ARN": arn}), []string{"API_TOKEN=old"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(got, "API_TOKEN"); v != "aws-token" {
		t.Errorf("API_TOKEN = %q, want aws-token", v)
	}
	if v, _ := lookup(got, "REDIS_URL"); v != "redis://:aws-pass@127.0.0.1:6379/0" {
		t.Errorf("REDIS_URL = %q", v)
	}
}

func TestAWSFailures(t *testing.T) {
	startMoto(t)
	notJSON := createAWSSecret(t, "mesh/plain", "just-a-password")
	array := createAWSSecret(t, "mesh/array", `["a","b"]`)
	missing := strings.Replace(notJSON, "mesh/plain", "mesh/absent", 1)
	for _, tc := range []struct{ arn, want string }{
		{missing, "ResourceNotFoundException"},
		{notJSON, "not a JSON object of strings"},
		{array, "not a JSON object of strings"},
		{"", "AWS_SECRET_ARN is not set"},
	} {
		_, err := Environ(context.Background(), envOf(map[string]string{"SECRETS_PROVIDER": "aws", "AWS_SECRET_ARN": tc.arn}), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SECRETS_PROVIDER=aws: AWS_SECRET_ARN="+tc.arn) {
			t.Errorf("ARN %q: err = %v, want one naming the provider, the ARN and %q", tc.arn, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "just-a-password") {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}
