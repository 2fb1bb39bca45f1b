// Package k8s holds the Kubernetes manifests of the pod and the node agent.
// Its only Go code is this test, which validates the manifests offline
// against the Kubernetes API schemas and checks the rules a platform team
// applies before it accepts a workload.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// validator is the kubernetes-validate program `make deps` installs
// (scripts/pip-ensure.sh); KUBERNETES_VALIDATE overrides it.
func validator(t *testing.T) string {
	if p := os.Getenv("KUBERNETES_VALIDATE"); p != "" {
		return p
	}
	p, err := filepath.Abs("../var/tools/venv/bin/kubernetes-validate")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubernetes-validate is not installed at %s (run make deps): %v", p, err)
	}
	return p
}

func manifestFiles(t *testing.T) []string {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	return files
}

// TestManifestsValidateStrictly checks every built-in kind against the
// Kubernetes API's own schema, rejecting unknown fields. Kinds the program
// has no schema for (Kustomization, ServiceMonitor) are checked by
// TestManifestRules instead.
func TestManifestsValidateStrictly(t *testing.T) {
	out, err := exec.Command(validator(t), append([]string{"--strict", "--no-warn"}, manifestFiles(t)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubernetes-validate --strict: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte(" passed ")); n < 10 {
		t.Errorf("kubernetes-validate passed %d resources, want every resource (at least 10):\n%s", n, out)
	}
}

type object = map[string]any

// resource is one YAML document of a manifest file.
type resource struct {
	file string
	doc  object
}

func (r resource) kind() string      { return str(r.doc, "kind") }
func (r resource) name() string      { return str(r.doc, "metadata", "name") }
func (r resource) namespace() string { return str(r.doc, "metadata", "namespace") }
func (r resource) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", r.kind(), r.namespace(), r.name(), r.file)
}

func loadAll(t *testing.T) []resource {
	var all []resource
	for _, f := range manifestFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc object
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				all = append(all, resource{file: f, doc: doc})
			}
		}
	}
	return all
}

// get walks a path of map keys.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(object)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

func list(v any, path ...string) []any { l, _ := get(v, path...).([]any); return l }

// podSpec is the pod template of a workload, or nil.
func podSpec(r resource) object {
	switch r.kind() {
	case "Deployment", "DaemonSet", "StatefulSet", "Job":
		s, _ := get(r.doc, "spec", "template", "spec").(object)
		return s
	case "CronJob":
		s, _ := get(r.doc, "spec", "jobTemplate", "spec", "template", "spec").(object)
		return s
	}
	return nil
}

func TestManifestRules(t *testing.T) {
	all := loadAll(t)
	nsLevel := map[string]string{}
	secretKeys := map[string]bool{} // namespace/secret/key of the example Secrets
	for _, r := range all {
		if r.kind() == "Namespace" {
			nsLevel[r.name()] = str(r.doc, "metadata", "labels", "pod-security.kubernetes.io/enforce")
		}
		if r.kind() != "Namespace" && r.kind() != "Kustomization" && r.namespace() == "" {
			t.Errorf("%s: no namespace; every resource names its own", r)
		}
		if r.kind() == "Secret" {
			for k := range get(r.doc, "stringData").(object) {
				secretKeys[r.namespace()+"/"+r.name()+"/"+k] = true
			}
		}
	}
	if got := nsLevel["meshoptixiq"]; got != "restricted" {
		t.Errorf("namespace meshoptixiq enforces %q, want restricted", got)
	}

	workloads := 0
	for _, r := range all {
		spec := podSpec(r)
		if spec == nil {
			continue
		}
		workloads++
		restricted := nsLevel[r.namespace()] == "restricted"
		// A run-to-completion pod serves nothing, so probes mean nothing
		// to it; what it needs instead is a deadline, so a hung run ends.
		batch := r.kind() == "Job" || r.kind() == "CronJob"
		if batch {
			job := r.doc["spec"]
			if r.kind() == "CronJob" {
				job = get(r.doc, "spec", "jobTemplate", "spec")
				if str(r.doc, "spec", "concurrencyPolicy") != "Forbid" {
					t.Errorf("%s: concurrencyPolicy is not Forbid (two runs would overlap)", r)
				}
			}
			if n, _ := get(job, "activeDeadlineSeconds").(int); n <= 0 {
				t.Errorf("%s: no activeDeadlineSeconds", r)
			}
		}
		if v, _ := spec["hostNetwork"].(bool); v && str(spec, "dnsPolicy") != "ClusterFirstWithHostNet" {
			t.Errorf("%s: hostNetwork without dnsPolicy ClusterFirstWithHostNet", r)
		}
		if restricted {
			for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
				if v, _ := spec[host].(bool); v {
					t.Errorf("%s: %s in a restricted namespace", r, host)
				}
			}
			if get(spec, "securityContext", "runAsNonRoot") != true {
				t.Errorf("%s: pod securityContext.runAsNonRoot is not true", r)
			}
			if str(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
				t.Errorf("%s: pod seccompProfile is not RuntimeDefault", r)
			}
			for _, v := range list(spec, "volumes") {
				if get(v, "hostPath") != nil {
					t.Errorf("%s: hostPath volume %s in a restricted namespace", r, str(v, "name"))
				}
			}
		}
		for _, c := range list(spec, "containers") {
			name := fmt.Sprintf("%s container %s", r, str(c, "name"))
			sc := get(c, "securityContext")
			if get(sc, "privileged") == true {
				t.Errorf("%s: privileged", name)
			}
			if get(sc, "allowPrivilegeEscalation") != false {
				t.Errorf("%s: allowPrivilegeEscalation is not false", name)
			}
			if get(sc, "readOnlyRootFilesystem") != true {
				t.Errorf("%s: readOnlyRootFilesystem is not true", name)
			}
			if drop := list(sc, "capabilities", "drop"); !slices.Contains(drop, any("ALL")) {
				t.Errorf("%s: capabilities.drop = %v, want ALL", name, drop)
			}
			if add := list(sc, "capabilities", "add"); restricted && len(add) > 0 && !slices.Equal(add, []any{"NET_BIND_SERVICE"}) {
				t.Errorf("%s: adds capabilities %v in a restricted namespace", name, add)
			}
			if !batch {
				for _, probe := range []string{"readinessProbe", "livenessProbe"} {
					if get(c, probe) == nil {
						t.Errorf("%s: no %s", name, probe)
					}
				}
			}
			if get(c, "envFrom") != nil {
				t.Errorf("%s: envFrom hands the container every key; name each secret it reads", name)
			}
			if get(c, "resources", "limits", "memory") == nil {
				t.Errorf("%s: no memory limit", name)
			}
			hasMemLimit := false
			for _, e := range list(c, "env") {
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil && get(ref, "optional") != true {
					key := r.namespace() + "/" + str(ref, "name") + "/" + str(ref, "key")
					if !secretKeys[key] {
						t.Errorf("%s: env %s reads secret key %s, which secrets.example.yaml does not define", name, str(e, "name"), key)
					}
				}
				if str(e, "name") == "GOMEMLIMIT" && str(e, "valueFrom", "resourceFieldRef", "resource") == "limits.memory" {
					hasMemLimit = true
				}
			}
			if !hasMemLimit && strings.HasPrefix(str(c, "image"), "meshoptixiq") {
				t.Errorf("%s: GOMEMLIMIT is not taken from limits.memory", name)
			}
		}
	}
	if workloads < 3 {
		t.Errorf("found %d workloads, want the API pod, Redis and the node agent", workloads)
	}

	agent := find(t, all, "DaemonSet", "meshoptixiq-nodeagent")
	caps := list(podSpec(agent), "containers")[0]
	var added []string
	for _, c := range list(caps, "securityContext", "capabilities", "add") {
		added = append(added, c.(string))
	}
	sort.Strings(added)
	if !slices.Equal(added, []string{"BPF", "PERFMON"}) {
		t.Errorf("node agent adds capabilities %v, want exactly [BPF PERFMON] (what TestEBPFAsInTheManifest proves enough and each needed)", added)
	}
	spec := podSpec(agent)
	if v, _ := spec["hostNetwork"].(bool); v {
		t.Errorf("node agent uses the host network; its tracepoints see every network namespace without it")
	}
	if str(spec, "runtimeClassName") == "" {
		t.Errorf("node agent has no runtimeClassName: NVML's device nodes and library come from the NVIDIA runtime")
	}
	readOnly := map[string]bool{}
	for _, m := range list(caps, "volumeMounts") {
		readOnly[str(m, "name")] = get(m, "readOnly") == true
	}
	for _, v := range list(spec, "volumes") {
		path := str(v, "hostPath", "path")
		if path == "" {
			continue
		}
		if path == "/dev" || strings.HasPrefix(path, "/dev/") {
			t.Errorf("node agent mounts %s from the host; device nodes come from the runtime class", path)
		}
		if !readOnly[str(v, "name")] {
			t.Errorf("node agent mounts hostPath %s writable", path)
		}
	}
	if lvl := nsLevel[agent.namespace()]; lvl != "privileged" {
		t.Errorf("node agent runs in namespace %s enforcing %q; it needs privileged", agent.namespace(), lvl)
	}

	checkServiceMonitors(t, all)
	checkMetricsListen(t, all)
}

func find(t *testing.T, all []resource, kind, name string) resource {
	t.Helper()
	for _, r := range all {
		if r.kind() == kind && r.name() == name {
			return r
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return resource{}
}

func labelsMatch(selector, labels any) bool {
	sel, _ := selector.(object)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if get(labels, k) != v {
			return false
		}
	}
	return true
}

// checkServiceMonitors follows each ServiceMonitor to the Service it
// selects, the port it names, the pods behind that port, and the
// NetworkPolicy that must let the monitoring namespace in on it.
func checkServiceMonitors(t *testing.T, all []resource) {
	monitors := 0
	for _, sm := range all {
		if sm.kind() != "ServiceMonitor" {
			continue
		}
		monitors++
		if str(sm.doc, "apiVersion") != "monitoring.coreos.com/v1" {
			t.Errorf("%s: apiVersion %q", sm, str(sm.doc, "apiVersion"))
		}
		for _, ep := range list(sm.doc, "spec", "endpoints") {
			port := str(ep, "port")
			found := false
			for _, svc := range all {
				if svc.kind() != "Service" || svc.namespace() != sm.namespace() ||
					!labelsMatch(get(sm.doc, "spec", "selector", "matchLabels"), get(svc.doc, "metadata", "labels")) {
					continue
				}
				for _, p := range list(svc.doc, "spec", "ports") {
					if str(p, "name") != port {
						continue
					}
					found = true
					num := containerPort(all, svc, str(p, "targetPort"))
					if num == 0 {
						t.Errorf("%s: port %s of %s names no container port", sm, port, svc)
					} else if !monitoringMayReach(all, svc.namespace(), get(svc.doc, "spec", "selector"), num) {
						t.Errorf("%s: no NetworkPolicy lets the monitoring namespace reach port %d", sm, num)
					}
					if num == 8000 {
						t.Errorf("%s: scrapes the public port", sm)
					}
				}
			}
			if !found {
				t.Errorf("%s: endpoint port %q is on no Service it selects", sm, port)
			}
		}
	}
	if monitors == 0 {
		t.Error("no ServiceMonitor")
	}
}

func containerPort(all []resource, svc resource, name string) int {
	for _, r := range all {
		spec := podSpec(r)
		if spec == nil || r.namespace() != svc.namespace() ||
			!labelsMatch(get(svc.doc, "spec", "selector"), get(r.doc, "spec", "template", "metadata", "labels")) {
			continue
		}
		for _, c := range list(spec, "containers") {
			for _, p := range list(c, "ports") {
				if str(p, "name") == name {
					n, _ := get(p, "containerPort").(int)
					return n
				}
			}
		}
	}
	return 0
}

func monitoringMayReach(all []resource, namespace string, podLabels any, port int) bool {
	for _, np := range all {
		if np.kind() != "NetworkPolicy" || np.namespace() != namespace ||
			!labelsMatch(get(np.doc, "spec", "podSelector", "matchLabels"), podLabels) {
			continue
		}
		for _, rule := range list(np.doc, "spec", "ingress") {
			fromMonitoring := false
			for _, from := range list(rule, "from") {
				if str(from, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") == "monitoring" {
					fromMonitoring = true
				}
			}
			for _, p := range list(rule, "ports") {
				if n, _ := get(p, "port").(int); fromMonitoring && n == port {
					return true
				}
			}
		}
	}
	return false
}

// checkMetricsListen: the sidecar and the apiserver keep their metrics off
// the public port (METRICS_LISTEN set), and every METRICS_LISTEN port is a
// declared container port, so a Service and a ServiceMonitor can name it.
func checkMetricsListen(t *testing.T, all []resource) {
	api := find(t, all, "Deployment", "meshoptixiq-api")
	for _, c := range list(podSpec(api), "containers") {
		name := str(c, "name")
		listen := ""
		for _, e := range list(c, "env") {
			if str(e, "name") == "METRICS_LISTEN" {
				listen = str(e, "value")
			}
		}
		if listen == "" {
			if name == "authsidecar" || name == "apiserver" {
				t.Errorf("%s: container %s sets no METRICS_LISTEN (its metrics would be on its main listener)", api, name)
			}
			continue
		}
		port, err := strconv.Atoi(listen[strings.LastIndexByte(listen, ':')+1:])
		declared := false
		for _, p := range list(c, "ports") {
			declared = declared || get(p, "containerPort") == port
		}
		if err != nil || !declared {
			t.Errorf("%s: container %s METRICS_LISTEN %q is not one of its container ports", api, name, listen)
		}
	}
}
