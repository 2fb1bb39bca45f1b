package secrets

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestNothingToFetch(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"SECRETS_PROVIDER": "vault", MarkerVar: "vault"}, // the re-executed process
	} {
		got, err := Environ(context.Background(), envOf(env), []string{"A=1"})
		if got != nil || err != nil {
			t.Errorf("%v: Environ = %q, %v; want nil, nil", env, got, err)
		}
	}
}

func TestUnknownProvider(t *testing.T) {
	_, err := Environ(context.Background(), envOf(map[string]string{"SECRETS_PROVIDER": "keepass"}), nil)
	if err == nil || !strings.Contains(err.Error(), `SECRETS_PROVIDER="keepass"`) || !strings.Contains(err.Error(), "aws, azure, gcp, vault") {
		t.Errorf("err = %v", err)
	}
}

func TestParseValues(t *testing.T) {
	for raw, want := range map[string]string{
		`"just a string"`:         "not a JSON object of strings",
		`null`:                    "not a JSON object of strings",
		`{"A":true}`:              `"A" is a boolean`,
		`{"A":null}`:              `"A" is null`,
		`{"A":["x"]}`:             `"A" is an array`,
		`{"A=B":"x"}`:             "not an environment variable name",
		`{"":"x"}`:                "not an environment variable name",
		`{"A":"x\u0000y"}`:        "NUL byte",
		`{"SECRETS_PROVIDER":""}`: "may not set SECRETS_PROVIDER",
	} {
		if _, err := parseValues([]byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", raw, err, want)
		}
	}
}

func TestMergeSecretWins(t *testing.T) {
	got := merge([]string{"PATH=/bin", "API_TOKEN=old", MarkerVar + "=stale", "NOEQUALS"}, map[string]string{"API_TOKEN": "new", "B": "b=c"}, "vault")
	want := []string{"PATH=/bin", "NOEQUALS", "API_TOKEN=new", "B=b=c", MarkerVar + "=vault"}
	if !slices.Equal(got, want) {
		t.Errorf("merge = %q, want %q", got, want)
	}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
