package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/common/testenv"
)

const policyA = "roles:\n  viewer:\n    allow: [\"all_devices\"]\ngroups:\n  g: viewer\n"
const policyB = "roles:\n  viewer:\n    allow: [\"all_devices\", \"summary_*\"]\ngroups:\n  g: viewer\n"
const policyC = "roles:\n  viewer:\n    allow: [\"summary_*\"]\ngroups:\n  g: viewer\n"

type readyzBody struct {
	Status        string `json:"status"`
	PolicyVersion string `json:"policy_version"`
	PolicyValid   bool   `json:"policy_valid"`
	Checks        map[string]struct {
		OK     bool
		Detail string
	}
}

func readyz(t *testing.T, url string) readyzBody {
	t.Helper()
	_, _, body := do(t, "GET", url+"/readyz", nil, "")
	return decode[readyzBody](t, body)
}

func waitVersion(t *testing.T, url, version string) {
	t.Helper()
	eventually(t, "policy version "+version+" at "+url, 15*time.Second, func() (bool, string) {
		r := readyz(t, url)
		return r.PolicyVersion == version, r.PolicyVersion
	})
}

// writeConfigMap lays out a directory the way the kubelet mounts a
// ConfigMap: rbac.yaml → ..data/rbac.yaml, ..data → a timestamped dir,
// replaced atomically by renaming a new ..data_tmp symlink over ..data.
func writeConfigMap(t *testing.T, dir, gen, content string) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_11_23_"+gen)
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "rbac.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "rbac.yaml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink("..data/rbac.yaml", link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloadOnConfigMapSymlinkSwap(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	writeConfigMap(t, dir, "1", policyA)
	// A one-hour poll: only the watch can pick the change up in time.
	sc := startSidecar(t, up.Addr, map[string]string{"RBAC_POLICY_FILE": filepath.Join(dir, "rbac.yaml"), "RBAC_RELOAD_INTERVAL": "3600"})
	if v := readyz(t, sc.URL).PolicyVersion; v != rbac.Version([]byte(policyA)) {
		t.Fatalf("initial policy version = %s, want %s", v, rbac.Version([]byte(policyA)))
	}
	writeConfigMap(t, dir, "2", policyB)
	waitVersion(t, sc.URL, rbac.Version([]byte(policyB)))
	writeConfigMap(t, dir, "3", policyC)
	waitVersion(t, sc.URL, rbac.Version([]byte(policyC)))
}

func TestInvalidPolicyKeepsLastGood(t *testing.T) {
	up := startUpstream(t)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	os.WriteFile(file, []byte(policyA), 0o644)
	sc := startSidecar(t, up.Addr, map[string]string{"RBAC_POLICY_FILE": file, "RBAC_RELOAD_INTERVAL": "0.2"})
	good := rbac.Version([]byte(policyA))
	os.WriteFile(file, []byte("roles:\n  viewer:\n    allow: [\"all_devices\"]\n    extra: 1\n"), 0o644)
	eventually(t, "readyz reports the invalid policy", 10*time.Second, func() (bool, string) {
		r := readyz(t, sc.URL)
		return !r.PolicyValid && strings.Contains(r.Checks["policy"].Detail, `rbac.yaml:4: role "viewer": unknown key "extra"`), fmt.Sprintf("%+v", r)
	})
	r := readyz(t, sc.URL)
	if r.PolicyVersion != good || r.Status != "ready" {
		t.Errorf("readyz after an invalid policy = %+v, want version %s still in force and ready", r, good)
	}
	_, _, m := do(t, "GET", sc.URL+"/metrics", nil, "")
	if !strings.Contains(string(m), "authsidecar_rbac_policy_valid 0") || !strings.Contains(string(m), `authsidecar_rbac_reloads_total{result="invalid"}`) {
		t.Errorf("metrics do not show the invalid policy")
	}
	if !strings.Contains(sc.Log.String(), "keeping the last good policy") {
		t.Error("log does not say the last good policy is kept")
	}
	status, _, body := do(t, "POST", sc.URL+"/admin/rbac/reload", map[string]string{"X-API-Key": testKey}, "")
	if status != 422 || !strings.Contains(string(body), "last good policy kept") {
		t.Errorf("POST /admin/rbac/reload with an invalid file = %d %s, want 422", status, body)
	}
	// Fixed: the poll installs it and readyz is clean again.
	os.WriteFile(file, []byte(policyB), 0o644)
	waitVersion(t, sc.URL, rbac.Version([]byte(policyB)))
	if r := readyz(t, sc.URL); !r.PolicyValid {
		t.Errorf("readyz after the fix = %+v, want policy_valid", r)
	}
}

// TestMultiPodReload runs three sidecar processes on one Redis. The file
// changes underneath them with the watch off and a one-hour poll, so only
// the broadcast from POST /admin/rbac/reload on one pod can reach the
// others.
func TestMultiPodReload(t *testing.T) {
	up := startUpstream(t)
	redis := testenv.StartRedis(t)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	os.WriteFile(file, []byte(policyA), 0o644)
	env := map[string]string{"REDIS_URL": redis.URL(), "RBAC_POLICY_FILE": file, "RBAC_WATCH": "false", "RBAC_RELOAD_INTERVAL": "3600"}
	pods := []*sidecarProc{startProcess(t, up.Addr, env), startProcess(t, up.Addr, env), startProcess(t, up.Addr, env)}
	waitSubscribed(t, redis.Addr(), 3)
	os.WriteFile(file, []byte(policyB), 0o644)
	status, _, body := do(t, "POST", pods[0].URL+"/admin/rbac/reload", map[string]string{"X-API-Key": testKey}, "")
	if status != 200 || !strings.Contains(string(body), `"broadcast":true`) {
		t.Fatalf("POST /admin/rbac/reload = %d %s, want 200 broadcast", status, body)
	}
	for _, p := range pods {
		waitVersion(t, p.URL, rbac.Version([]byte(policyB)))
	}
}

// TestMultiPodConvergeThroughRedisRestart: Redis goes away while the
// policy changes; the pods converge through the poll, and a broadcast after
// Redis is back reaches all of them again.
func TestMultiPodConvergeThroughRedisRestart(t *testing.T) {
	up := startUpstream(t)
	redis := testenv.StartRedis(t)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	os.WriteFile(file, []byte(policyA), 0o644)
	env := map[string]string{"REDIS_URL": redis.URL(), "RBAC_POLICY_FILE": file, "RBAC_WATCH": "false", "RBAC_RELOAD_INTERVAL": "0.5"}
	pods := []*sidecarProc{startProcess(t, up.Addr, env), startProcess(t, up.Addr, env), startProcess(t, up.Addr, env)}
	redis.Stop()
	os.WriteFile(file, []byte(policyB), 0o644)
	for _, p := range pods {
		waitVersion(t, p.URL, rbac.Version([]byte(policyB)))
	}
	redis.Start()
	waitSubscribed(t, redis.Addr(), 3)
	os.WriteFile(file, []byte(policyC), 0o644)
	do(t, "POST", pods[1].URL+"/admin/rbac/reload", map[string]string{"X-API-Key": testKey}, "")
	for _, p := range pods {
		waitVersion(t, p.URL, rbac.Version([]byte(policyC)))
	}
}

// waitSubscribed waits until n clients subscribe to the reload channel.
func waitSubscribed(t *testing.T, addr string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d subscribers on meshq:rbac_reload", n), 15*time.Second, func() (bool, string) {
		got, err := redisNumSub(addr, "meshq:rbac_reload")
		return err == nil && got >= n, fmt.Sprintf("%d, %v", got, err)
	})
}

// TestInvalidPolicyThenBackToLastGood: the file turns invalid, then returns
// to exactly the policy still in force; the invalid state must clear even
// though there is nothing new to install.
func TestInvalidPolicyThenBackToLastGood(t *testing.T) {
	up := startUpstream(t)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(file, []byte(policyA), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, up.Addr, map[string]string{"RBAC_POLICY_FILE": file, "RBAC_RELOAD_INTERVAL": "0.2"})
	good := rbac.Version([]byte(policyA))
	for _, broken := range []func(){
		func() { os.WriteFile(file, []byte("roles: [\n"), 0o644) },
		func() { os.Remove(file) }, // unreadable counts as invalid too
	} {
		broken()
		eventually(t, "readyz reports the invalid policy", 10*time.Second, func() (bool, string) {
			r := readyz(t, sc.URL)
			return !r.PolicyValid, fmt.Sprintf("%+v", r)
		})
		if err := os.WriteFile(file, []byte(policyA), 0o644); err != nil {
			t.Fatal(err)
		}
		eventually(t, "readyz valid again with the last good content back", 10*time.Second, func() (bool, string) {
			r := readyz(t, sc.URL)
			return r.PolicyValid && r.PolicyVersion == good && !strings.Contains(r.Checks["policy"].Detail, "invalid"), fmt.Sprintf("%+v", r)
		})
		_, _, m := do(t, "GET", sc.URL+"/metrics", nil, "")
		if !strings.Contains(string(m), "authsidecar_rbac_policy_valid 1") {
			t.Errorf("authsidecar_rbac_policy_valid is not 1 after the file returned to the policy in force")
		}
	}
}

// TestRejectedReloadAuditedAsError: POST /admin/rbac/reload answered 422
// (the policy is invalid; nothing was reloaded) is audited as an error,
// not as an allowed request; a reload that works is audited as allowed.
func TestRejectedReloadAuditedAsError(t *testing.T) {
	up := startUpstream(t)
	file := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(file, []byte(policyA), 0o644); err != nil {
		t.Fatal(err)
	}
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	sc := startSidecar(t, up.Addr, map[string]string{"RBAC_POLICY_FILE": file, "RBAC_RELOAD_INTERVAL": "3600", "RBAC_WATCH": "false",
		"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": auditFile})
	if err := os.WriteFile(file, []byte("roles: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", sc.URL+"/admin/rbac/reload", map[string]string{"X-API-Key": testKey, "X-Request-Id": "reload-bad"}, ""); status != 422 {
		t.Fatalf("POST /admin/rbac/reload with an invalid policy = %d %s, want 422", status, body)
	}
	if err := os.WriteFile(file, []byte(policyB), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", sc.URL+"/admin/rbac/reload", map[string]string{"X-API-Key": testKey, "X-Request-Id": "reload-good"}, ""); status != 200 {
		t.Fatalf("POST /admin/rbac/reload with a valid policy = %d %s, want 200", status, body)
	}
	type rec struct{ ID, Event, Outcome, Reason string }
	var got []rec
	for _, r := range readAudit(t, auditFile, 2) {
		got = append(got, rec{r.ID, r.Event, r.Outcome, r.Reason})
	}
	want := []rec{{"reload-bad", "admin", "error", "policy invalid"}, {"reload-good", "admin", "allow", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit records of the reloads (-want +got):\n%s", diff)
	}
}
