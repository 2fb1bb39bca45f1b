package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/meshq/collect/fakedevice"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// TestCollectCommand runs `meshq collect` as the binary does against two
// fake devices on loopback, one of which refuses the password: the good
// one is cached, the summary names the failure, the exit status is 1, and
// no password is printed anywhere.
func TestCollectCommand(t *testing.T) {
	const pw, enablePw = "Cli-login-pw-6610", "Cli-enable-pw-2207"
	eos, _ := platform.Lookup("arista_eos")
	outputs := map[string]string{}
	for _, c := range eos.Commands {
		outputs[c.Command] = fmt.Sprintf("{\"command\": %q}\n", c.Command)
	}
	good := fakedevice.Start(t, fakedevice.Device{Hostname: "leaf-1", DeviceType: "arista_eos", Username: "ops", Password: pw,
		EnableSecret: enablePw, Setup: eos.Setup, Outputs: outputs})
	bad := fakedevice.Start(t, fakedevice.Device{Hostname: "leaf-2", DeviceType: "arista_eos", Username: "ops", Password: "something-else",
		Setup: eos.Setup, Outputs: outputs})
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("known_hosts", good.KnownHostsLine()+"\n"+bad.KnownHostsLine()+"\n")
	inv := write("inventory.yaml", fmt.Sprintf(`known_hosts: known_hosts
groups:
  leaf:
    device_type: arista_eos
    username: ops
    password: "{{ env.LEAF_PASSWORD }}"
    secret: "{{ env.LEAF_ENABLE }}"
devices:
  - {hostname: leaf-1, host: 127.0.0.1, port: %d, group: leaf}
  - {hostname: leaf-2, host: 127.0.0.1, port: %d, group: leaf}
`, good.Port(), bad.Port()))
	cache := filepath.Join(dir, "cache")
	c := newCLI(t, "")
	c.env["LEAF_PASSWORD"], c.env["LEAF_ENABLE"] = pw, enablePw

	r := c.run("", "collect", "--source", inv, "--cache", cache, "--workers", "2", "--retries", "0")
	if r.code != 1 {
		t.Errorf("collect with a refused password = exit %d, want 1\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"leaf-1  arista_eos  ok", fmt.Sprintf("%d/%d", len(eos.Commands), len(eos.Commands)), "leaf-2  arista_eos  failed", "auth: device 127.0.0.1:",
		"2 devices: 1 ok, 1 failed (auth 1)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("collect summary lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out+r.errOut, pw) || strings.Contains(r.out+r.errOut, enablePw) {
		t.Errorf("collect printed a password:\n%s%s", r.out, r.errOut)
	}
	d, err := rawcache.Read(cache, "leaf-1")
	if err != nil {
		t.Fatalf("leaf-1 not cached: %v", err)
	}
	data, _, err := rawcache.Load(cache, d, platform.KindBGP)
	cmd, _ := eos.Command(platform.KindBGP)
	if err != nil || string(data) != outputs[cmd.Command] {
		t.Errorf("leaf-1 bgp cached = %q, %v; want %q", data, err, outputs[cmd.Command])
	}

	// Only the good device: exit 0.
	write("one.yaml", fmt.Sprintf("known_hosts: known_hosts\ndevices:\n  - {hostname: leaf-1, host: 127.0.0.1, port: %d, device_type: arista_eos, username: ops, password: \"{{ env.LEAF_PASSWORD }}\", secret: \"{{ env.LEAF_ENABLE }}\"}\n", good.Port()))
	if r := c.run("", "collect", "--source", filepath.Join(dir, "one.yaml"), "--cache", cache); r.code != 0 || !strings.Contains(r.out, "1 device: 1 ok, 0 failed") {
		t.Errorf("collect of a good device = exit %d\n%s%s", r.code, r.out, r.errOut)
	}

	// An invalid inventory: nothing collected, the entry and field named,
	// the literal password not repeated.
	badInv := write("bad.yaml", "devices:\n  - {hostname: x1, host: 192.0.2.1, device_type: cisco_ios, username: u, password: "+pw+", port: 0, insecure_ignore_host_key: true}\n")
	r = c.run("", "collect", "--source", badInv, "--cache", filepath.Join(dir, "cache2"))
	if r.code != 1 || !strings.Contains(r.errOut, "devices[0] (x1): port: 0 is not a TCP port") || strings.Contains(r.errOut, pw) {
		t.Errorf("collect of a bad inventory = exit %d %q, want 1 naming devices[0] port and no password", r.code, r.errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache2")); !os.IsNotExist(err) {
		t.Errorf("a bad inventory created the cache (%v)", err)
	}
	if r := c.run("", "collect", "--cache", cache); r.code != 2 {
		t.Errorf("collect without --source = exit %d, want 2 (usage)", r.code)
	}
}
