package inventory

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const password = "Xq9-literal-pw-7731" // must never appear in an error or a print

// fixture writes a known_hosts file and two keys (one encrypted) into a
// fresh directory and returns it with a getenv.
func fixture(t *testing.T) (string, func(string) string) {
	t.Helper()
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize("192.0.2.1:22")}, hostKey)
	write(t, filepath.Join(dir, "known_hosts"), line+"\n")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "id_plain"), string(pem.EncodeToMemory(plain)))
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("key-pass-55"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "home", ".ssh", "id_enc"), string(pem.EncodeToMemory(enc)))
	env := map[string]string{
		"HOME":         filepath.Join(dir, "home"),
		"NET_PASSWORD": "env-pw-4471",
		"EDGE_ENABLE":  "enable-pw-9090",
		"KEY_PASS":     "key-pass-55",
	}
	return dir, func(k string) string { return env[k] }
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

const full = `
known_hosts: known_hosts
defaults:
  username: netops
  password: "{{ env.NET_PASSWORD }}"
  timeout: 20
groups:
  edge:
    device_type: cisco_ios
    secret: "{{env.EDGE_ENABLE}}"
    jump_host: inner
    port: 2222
jump_hosts:
  outer:
    host: bastion.example.net
    username: jump
    key_file: ~/.ssh/id_enc
    key_passphrase: "{{ env.KEY_PASS }}"
  inner:
    host: 10.255.0.1
    username: jump2
    password: ` + password + `
    jump_host: outer
    timeout: 90s
devices:
  - hostname: edge-1
    host: 192.0.2.1
    group: edge
  - hostname: core-1
    host: 192.0.2.2
    device_type: arista_eos
    username: admin
    key_file: id_plain
    password: ` + password + `
    timeout: 1.5
  - hostname: lab-fw
    host: lab-fw.example.net
    device_type: paloalto_panos
    port: 8022
    insecure_ignore_host_key: true
`

func TestParseResolvesEveryLevel(t *testing.T) {
	dir, getenv := fixture(t)
	inv, err := Parse([]byte(full), dir, getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(inv.Devices) != 3 {
		t.Fatalf("Parse gave %d devices, want 3", len(inv.Devices))
	}
	type view struct {
		Name, Addr, User, Password, Secret, DeviceType, Group string
		Timeout                                               time.Duration
		HasKey, Insecure                                      bool
		KnownHosts                                            []string
		Jumps                                                 []string
	}
	see := func(d Device) view {
		v := view{Name: d.Name, Addr: d.Addr(), User: d.Username, Password: d.Password.Reveal(), Secret: d.Secret.Reveal(),
			DeviceType: d.DeviceType, Group: d.Group, Timeout: d.Timeout, HasKey: d.Key != nil, Insecure: d.InsecureIgnoreHostKey,
			KnownHosts: d.KnownHosts}
		for _, j := range d.Jumps {
			v.Jumps = append(v.Jumps, fmt.Sprintf("%s %s@%s key=%v pw=%v timeout=%s", j.Name, j.Username, j.Addr(), j.Key != nil, j.Password.Reveal() != "", j.Timeout))
		}
		return v
	}
	kh := []string{filepath.Join(dir, "known_hosts")}
	want := []view{
		{Name: "edge-1", Addr: "192.0.2.1:2222", User: "netops", Password: "env-pw-4471", Secret: "enable-pw-9090",
			DeviceType: "cisco_ios", Group: "edge", Timeout: 20 * time.Second, KnownHosts: kh,
			Jumps: []string{"outer jump@bastion.example.net:22 key=true pw=false timeout=20s", "inner jump2@10.255.0.1:22 key=false pw=true timeout=1m30s"}},
		{Name: "core-1", Addr: "192.0.2.2:22", User: "admin", Password: password, DeviceType: "arista_eos",
			Timeout: 1500 * time.Millisecond, HasKey: true, KnownHosts: kh},
		{Name: "lab-fw", Addr: "lab-fw.example.net:8022", User: "netops", Password: "env-pw-4471", DeviceType: "paloalto_panos",
			Timeout: 20 * time.Second, Insecure: true},
	}
	var got []view
	for _, d := range inv.Devices {
		got = append(got, see(d))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse devices (-want +got):\n%s", diff)
	}
	if inv.Devices[0].Platform.DeviceType != "cisco_ios" || !inv.Devices[0].Platform.Enable {
		t.Errorf("edge-1 platform = %+v, want cisco_ios with enable", inv.Devices[0].Platform)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	dir, getenv := fixture(t)
	inv, err := Parse([]byte(full), dir, getenv)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, d := range inv.Devices {
		fmt.Fprintf(&out, "%v %+v %#v %s\n", d, d, d, d.Password)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		slog.New(slog.NewTextHandler(&out, nil)).Info("device", "password", d.Password, "secret", d.Secret)
	}
	for _, s := range []string{password, "env-pw-4471", "enable-pw-9090"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("printing devices shows the secret %q:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("printed devices show no [redacted] marker:\n%s", out.String())
	}
}

func TestParseReportsEveryProblemWithEntryAndField(t *testing.T) {
	dir, getenv := fixture(t)
	doc := `
known_hosts: known_hosts
groups:
  core:
    password: "{{ env.MISSING_PW }}"
jump_hosts:
  a: {host: a.example.net, username: j, password: ` + password + `, jump_host: b}
  b: {host: b.example.net, username: j, password: ` + password + `, jump_host: a}
devices:
  - {hostname: r1, host: 192.0.2.1, device_type: cisco_ios, username: u, password: ` + password + `, port: 70000}
  - {hostname: r1, host: 192.0.2.2, device_type: cisco_iox, username: u, password: ` + password + `}
  - {host: 192.0.2.3, device_type: cisco_ios, username: u, password: ` + password + `}
  - {hostname: r4, host: 192.0.2.4, device_type: cisco_ios, username: u, group: core}
  - {hostname: r5, host: 192.0.2.5, device_type: cisco_ios, username: u, password: ` + password + `, group: nosuch, timeout: soon}
  - {hostname: r6, host: 192.0.2.6, device_type: cisco_ios, password: "{{ env.NET_PASSWORD | upper }}"}
  - {hostname: r7, host: 192.0.2.7, device_type: cisco_ios, username: u, key_file: ~/.ssh/id_enc}
  - {hostname: r8, host: 192.0.2.8, device_type: cisco_ios, username: u, key_file: ~/.ssh/id_enc, key_passphrase: wrong-pass}
  - {hostname: r9, host: 192.0.2.9, device_type: cisco_ios, username: u, password: x, known_hosts: nowhere}
  - {hostname: r10, host: 192.0.2.10, device_type: cisco_ios, username: u, password: x, jump_host: a}
  - {hostname: ../r11, host: 192.0.2.11, device_type: cisco_ios, username: u, password: x}
`
	_, err := Parse([]byte(doc), dir, getenv)
	if err == nil {
		t.Fatal("Parse of a bad inventory succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"devices[0] (r1): port: 70000 is not a TCP port",
		`devices[1] (r1): hostname: "r1" is also devices[0]`,
		`devices[1] (r1): device_type: unknown device_type "cisco_iox"`,
		"devices[2]: hostname: required",
		"groups.core: password: environment variable MISSING_PW is not set",
		`devices[4] (r5): group: no group "nosuch" in groups`,
		`devices[4] (r5): timeout: "soon" is neither seconds nor a duration`,
		"devices[5] (r6): password: unsupported template",
		"devices[5] (r6): username: required",
		"devices[6] (r7): key_file: " + filepath.Join(dir, "home", ".ssh", "id_enc") + " is encrypted; give key_passphrase",
		"devices[7] (r8): key_file: " + filepath.Join(dir, "home", ".ssh", "id_enc") + ": key_passphrase does not decrypt it",
		"devices[8] (r9): known_hosts: open " + filepath.Join(dir, "nowhere"),
		"jump_hosts.a: jump_host: loop: a → b → a",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Parse error does not contain %q; it is:\n%s", want, msg)
		}
	}
	for _, s := range []string{password, "wrong-pass", "env-pw-4471"} {
		if strings.Contains(msg, s) {
			t.Errorf("Parse error shows the secret %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "devices[3] (r4): password") {
		t.Errorf("r4's missing password is the group's problem, reported twice:\n%s", msg)
	}
}

func TestParseRefusesUnknownFieldsAndMissingKnownHosts(t *testing.T) {
	dir, getenv := fixture(t)
	_, err := Parse([]byte("devices:\n  - {hostname: r1, host: h, device_type: cisco_ios, username: u, pasword: x}\n"), dir, getenv)
	if err == nil || !strings.Contains(err.Error(), "pasword") {
		t.Errorf("Parse with a misspelt field = %v, want an error naming pasword", err)
	}
	// No known_hosts named and none in $HOME/.ssh: refused, not trusted.
	_, err = Parse([]byte("devices:\n  - {hostname: r1, host: h, device_type: cisco_ios, username: u, password: x}\n"), dir, getenv)
	want := "devices[0] (r1): known_hosts: open " + filepath.Join(dir, "home", ".ssh", "known_hosts")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "insecure_ignore_host_key") {
		t.Errorf("Parse without known_hosts = %v, want %q and the way out", err, want)
	}
	_, err = Parse([]byte("devices: []\n"), dir, getenv)
	if err == nil || !strings.Contains(err.Error(), "devices: no devices") {
		t.Errorf("Parse of no devices = %v, want devices: no devices", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir, getenv := fixture(t)
	path := filepath.Join(dir, "inventory.yaml")
	write(t, path, full)
	inv, err := Load(path, getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := inv.Devices[1].KeyFile; got != filepath.Join(dir, "id_plain") {
		t.Errorf("key_file resolved to %s, want it beside the inventory", got)
	}
	write(t, path, "devices: [{hostname: r1}]\n")
	if _, err := Load(path, getenv); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Load of a bad file = %v, want the error to start with its path", err)
	}
}
