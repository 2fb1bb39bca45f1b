package auth

import (
	"strings"
	"testing"
)

func TestAPIKeys(t *testing.T) {
	master := strings.Repeat("m", 40)
	file := "# tools\nci: " + strings.Repeat("c", 32) + "\n\nansible:" + strings.Repeat("a", 33) + "\n"
	k, err := NewAPIKeys(master, []byte(file), "keys.txt")
	if err != nil {
		t.Fatalf("NewAPIKeys = %v", err)
	}
	for _, c := range []struct{ key, user string }{{master, "admin"}, {strings.Repeat("c", 32), "ci"}, {strings.Repeat("a", 33), "ansible"}} {
		id, ok := k.Check([]byte(c.key))
		if !ok || id.User != c.user || !id.Admin || id.Method != MethodAPIKey || id.KeyFP == "" || strings.Contains(id.KeyFP, c.key[:8]) {
			t.Errorf("Check(%s key) = %+v, %v; want user %s, admin", c.user, id, ok, c.user)
		}
	}
	if _, ok := k.Check([]byte(strings.Repeat("m", 39))); ok {
		t.Error("Check(prefix of the master key) = ok, want refused")
	}
	_, err = NewAPIKeys("short", []byte("x:"+strings.Repeat("y", 31)+"\nbad line\nci:"+strings.Repeat("c", 32)+"\nci:"+strings.Repeat("d", 32)+"\n"), "k")
	for _, w := range []string{`API_KEY: key "admin" is 5 characters`, `k:1: key "x" is 31 characters`, "k:2: want name:key", `k:4: key name "ci" is used twice`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("NewAPIKeys(bad) error = %v, want it to contain %q", err, w)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "yyyy") || strings.Contains(err.Error(), "short")) {
		t.Errorf("NewAPIKeys error leaks a key: %v", err)
	}
}
