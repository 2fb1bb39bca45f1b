package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWanted(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name   string
		getenv func(string) string
		args   []string
		want   bool
	}{
		{"no provider", env(), []string{"nodeagent"}, false},
		{"provider", env(ProviderVar, "vault"), []string{"nodeagent"}, true},
		{"provider, with flags", env(ProviderVar, "vault"), []string{"nodeagent", "-listen", ":1"}, true},
		{"fetched already", env(ProviderVar, "vault", MarkerVar, "vault"), []string{"nodeagent"}, false},
		{"probe", env(ProviderVar, "vault"), []string{"nodeagent", "probe"}, false},
		{"version", env(ProviderVar, "aws"), []string{"nodeagent", "--version"}, false},
		{"help", env(ProviderVar, "gcp"), []string{"nodeagent", "-h"}, false},
		{"no argv", env(ProviderVar, "vault"), nil, true},
	} {
		if got := Wanted(c.getenv, c.args); got != c.want {
			t.Errorf("%s: Wanted = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestFindHelper: beside the daemon first, then PATH; missing, an error
// that names the command, the variable and where it was looked for.
func TestFindHelper(t *testing.T) {
	daemonDir, pathDir, emptyDir := t.TempDir(), t.TempDir(), t.TempDir()
	self := filepath.Join(daemonDir, "nodeagent")
	onPath := filepath.Join(pathDir, Helper)
	if err := os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", pathDir)
	t.Setenv(ProviderVar, "vault")
	if got, err := FindHelper(self); err != nil || got != onPath {
		t.Errorf("FindHelper with the helper on PATH = %q, %v; want %s", got, err, onPath)
	}
	beside := filepath.Join(daemonDir, Helper)
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindHelper(self); err != nil || got != beside {
		t.Errorf("FindHelper with the helper beside the daemon = %q, %v; want %s", got, err, beside)
	}
	t.Setenv("PATH", emptyDir)
	_, err := FindHelper(filepath.Join(emptyDir, "nodeagent"))
	if err == nil {
		t.Fatal("FindHelper found a helper in an empty directory")
	}
	for _, want := range []string{Helper, "SECRETS_PROVIDER=vault", emptyDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
