package collect

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/meshoptixiq/mesh/meshq/collect/fakedevice"
	"github.com/meshoptixiq/mesh/meshq/inventory"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// Secrets of the test devices: none may appear in a result or the cache.
const (
	loginPassword = "Login-pw-5521"
	enableSecret  = "Enable-pw-7319"
	jumpPassword  = "Jump-pw-8802"
)

var env = map[string]string{"DEV_PASSWORD": loginPassword, "DEV_ENABLE": enableSecret, "JUMP_PASSWORD": jumpPassword}

// cannedOutput is a command's answer: 30 lines (more than a page), in the
// command's format, with lines that end like prompts ("#", ">") to show
// that only the device's own prompt ends an output.
func cannedOutput(host string, c platform.Command) string {
	var b strings.Builder
	switch c.Format {
	case platform.FormatJSON:
		fmt.Fprintf(&b, "{\n  \"host\": %q,\n  \"command\": %q,\n  \"rows\": [\n", host, c.Command)
		for i := 0; i < 28; i++ {
			fmt.Fprintf(&b, "    {\"n\": %d, \"text\": \"row %d of %s\"},\n", i, i, c.Kind)
		}
		b.WriteString("  ]\n}\n")
	case platform.FormatXML:
		b.WriteString("<rpc-reply>\n")
		for i := 0; i < 28; i++ {
			fmt.Fprintf(&b, "  <entry n=\"%d\">%s %s</entry>\n", i, host, c.Kind)
		}
		b.WriteString("</rpc-reply>\n")
	default:
		fmt.Fprintf(&b, "%s: output of %s\n", host, c.Command)
		for i := 0; i < 28; i++ {
			fmt.Fprintf(&b, "Ethernet1/%-3d  up    up    %s line %d to peer-%d#\n", i, c.Kind, i, i)
		}
		b.WriteString("  description core uplink ->\n")
	}
	return b.String()
}

func outputsFor(host string, p platform.Platform) map[string]string {
	m := map[string]string{}
	for _, c := range p.Commands {
		m[c.Command] = cannedOutput(host, c)
	}
	return m
}

// fake starts a device of a platform with paging on, a banner and, where
// the platform has enable, the enable secret.
func fake(t *testing.T, host, deviceType string, change func(*fakedevice.Device)) *fakedevice.Server {
	t.Helper()
	p, err := platform.Lookup(deviceType)
	if err != nil {
		t.Fatal(err)
	}
	d := fakedevice.Device{Hostname: host, DeviceType: deviceType, Username: "netops", Password: loginPassword,
		EnableSecret: enableSecret, Setup: p.Setup, Outputs: outputsFor(host, p), PageLines: 20,
		Banner: "Authorised access only #\nAll sessions are logged >\n"}
	if p.DeviceType == "fortinet" {
		d.Setup = []string{"config system console", "set output standard"} // "end" leaves the sub-mode
	}
	if change != nil {
		change(&d)
	}
	return fakedevice.Start(t, d)
}

// entry is one inventory device line for a fake.
type entry struct {
	host, deviceType, addr string
	extra                  string // more YAML fields, "k: v, k: v"
}

func (e entry) yaml() string {
	h, p, _ := net.SplitHostPort(e.addr)
	s := fmt.Sprintf("  - {hostname: %s, host: %s, port: %s, device_type: %s", e.host, h, p, e.deviceType)
	if e.extra != "" {
		s += ", " + e.extra
	}
	return s + "}\n"
}

// load writes known_hosts and the inventory, and loads it.
func load(t *testing.T, knownHosts []string, head string, entries []entry) []inventory.Device {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(strings.Join(knownHosts, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "known_hosts: known_hosts\ndefaults:\n  username: netops\n  password: \"{{ env.DEV_PASSWORD }}\"\n  secret: \"{{ env.DEV_ENABLE }}\"\n  timeout: 10\n" + head + "devices:\n"
	for _, e := range entries {
		doc += e.yaml()
	}
	path := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("inventory: %v\n%s", err, doc)
	}
	return inv.Devices
}

func runCollect(t *testing.T, devices []inventory.Device, workers, retries int) (string, map[string]Result) {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "cache")
	done := 0
	results, err := Run(context.Background(), devices, Options{Cache: cache, Workers: workers, Retries: retries,
		Backoff: 10 * time.Millisecond, Done: func(Result) { done++ }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if done != len(devices) {
		t.Errorf("Done was called %d times for %d devices", done, len(devices))
	}
	byHost := map[string]Result{}
	for _, r := range results {
		byHost[r.Hostname] = r
	}
	return cache, byHost
}

// checkCache compares every collected output with what the fake sent.
func checkCache(t *testing.T, cache, host string, p platform.Platform, skip map[string]bool) rawcache.Device {
	t.Helper()
	d, err := rawcache.Read(cache, host)
	if err != nil {
		t.Fatalf("rawcache.Read(%s): %v", host, err)
	}
	for _, c := range p.Commands {
		if skip[c.Command] {
			continue
		}
		got, o, err := rawcache.Load(cache, d, c.Kind)
		if err != nil {
			t.Errorf("%s %s: %v", host, c.Kind, err)
			continue
		}
		if diff := cmp.Diff(cannedOutput(host, c), string(got)); diff != "" {
			t.Errorf("%s: cached %s differs from what the device sent (-sent +cached):\n%s", host, c.Kind, diff)
		}
		if o.Command != c.Command || o.Format != c.Format || o.CollectedAt.IsZero() {
			t.Errorf("%s %s: meta output = %+v, want command %q format %s and a time", host, c.Kind, o, c.Command, c.Format)
		}
	}
	return d
}

func TestEveryPlatformEndToEnd(t *testing.T) {
	var keys []string
	var entries []entry
	servers := map[string]*fakedevice.Server{}
	for _, dt := range platform.DeviceTypes() {
		host := strings.ReplaceAll(dt, "_", "-") + "-1"
		s := fake(t, host, dt, nil)
		servers[host] = s
		keys = append(keys, s.KnownHostsLine())
		entries = append(entries, entry{host: host, deviceType: dt, addr: s.Addr})
	}
	devices := load(t, keys, "", entries)
	cache, results := runCollect(t, devices, 4, 0)
	for _, d := range devices {
		r := results[d.Name]
		if r.Err != nil || r.Attempts != 1 || r.Collected != len(d.Platform.Commands) {
			t.Errorf("%s: result %+v (err %v), want all %d commands in one attempt", d.Name, r, r.Err, len(d.Platform.Commands))
			continue
		}
		meta := checkCache(t, cache, d.Name, d.Platform, nil)
		if meta.DeviceType != d.DeviceType || meta.Host != d.Host || meta.Error != nil || meta.StartedAt.After(meta.FinishedAt) {
			t.Errorf("%s: meta = %+v", d.Name, meta)
		}
		heard := servers[d.Name].Heard()
		style := fakedevice.Styles[d.DeviceType]
		var got []string
		for _, h := range heard {
			if h.Line == "" || h.Line == "enable" || h.Line == "exit" || h.Line == "end" {
				continue
			}
			if style.EnablePrompt != nil && !h.Privileged {
				t.Errorf("%s: %q was run before enable", d.Name, h.Line)
			}
			got = append(got, h.Line)
		}
		var want []string
		for _, c := range d.Platform.Setup {
			if c != "end" {
				want = append(want, c)
			}
		}
		for _, c := range d.Platform.Commands {
			want = append(want, c.Command)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: commands the device heard (-want +got):\n%s", d.Name, diff)
		}
		for _, h := range heard {
			if strings.Contains(h.Line, enableSecret) {
				t.Errorf("%s: the enable secret was typed as a command", d.Name)
			}
		}
	}
}

func TestPagerThatStaysOnIsPagedThrough(t *testing.T) {
	for _, dt := range []string{"cisco_ios", "juniper_junos", "cisco_asa", "aruba_os"} {
		s := fake(t, "pg-"+strings.ReplaceAll(dt, "_", "-"), dt, func(d *fakedevice.Device) { d.StubbornPager = true; d.PageLines = 7 })
		devices := load(t, []string{s.KnownHostsLine()}, "", []entry{{host: "pg-" + strings.ReplaceAll(dt, "_", "-"), deviceType: dt, addr: s.Addr}})
		cache, results := runCollect(t, devices, 1, 0)
		if r := results[devices[0].Name]; r.Err != nil {
			t.Errorf("%s with paging on: %v", dt, r.Err)
			continue
		}
		checkCache(t, cache, devices[0].Name, devices[0].Platform, nil)
	}
}

func TestFaultsAreClassifiedAndIsolated(t *testing.T) {
	ios, _ := platform.Lookup("cisco_ios")
	good := fake(t, "good", "cisco_ios", nil)
	badPw := fake(t, "badpw", "cisco_ios", func(d *fakedevice.Device) { d.Password = "another-password" })
	unknownKey := fake(t, "unknownkey", "cisco_ios", nil)
	changedKey := fake(t, "changedkey", "cisco_ios", nil)
	otherKey := fake(t, "impostor", "cisco_ios", nil) // only lends its key
	silent := fakedevice.StartSilent(t)
	hang := fake(t, "hang", "cisco_ios", func(d *fakedevice.Device) { d.Hang = true })
	dropCmd := ios.Commands[3].Command
	drop := fake(t, "drop", "cisco_ios", func(d *fakedevice.Device) { d.DropOn = dropCmd })
	lldp, _ := ios.Command(platform.KindLLDP)
	invalid := fake(t, "invalid", "cisco_ios", func(d *fakedevice.Device) { delete(d.Outputs, lldp.Command) })
	badEnable := fake(t, "badenable", "cisco_ios", func(d *fakedevice.Device) { d.EnableSecret = "another-secret" })
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()

	changedLine := knownhosts.Line([]string{knownhosts.Normalize(changedKey.Addr)}, otherKey.HostKey)
	keys := []string{good.KnownHostsLine(), badPw.KnownHostsLine(), hang.KnownHostsLine(), drop.KnownHostsLine(),
		invalid.KnownHostsLine(), badEnable.KnownHostsLine(), changedLine}
	short := "timeout: 1"
	devices := load(t, keys, "", []entry{
		{host: "good", deviceType: "cisco_ios", addr: good.Addr},
		{host: "badpw", deviceType: "cisco_ios", addr: badPw.Addr},
		{host: "unknownkey", deviceType: "cisco_ios", addr: unknownKey.Addr},
		{host: "changedkey", deviceType: "cisco_ios", addr: changedKey.Addr},
		{host: "silent", deviceType: "cisco_ios", addr: silent, extra: short},
		{host: "hang", deviceType: "cisco_ios", addr: hang.Addr, extra: short},
		{host: "drop", deviceType: "cisco_ios", addr: drop.Addr},
		{host: "invalid", deviceType: "cisco_ios", addr: invalid.Addr},
		{host: "badenable", deviceType: "cisco_ios", addr: badEnable.Addr},
		{host: "closed", deviceType: "cisco_ios", addr: closed, extra: short},
	})
	const retries = 2
	cache, results := runCollect(t, devices, 3, retries)

	type outcome struct {
		Class    string
		Attempts int
		Partial  bool
	}
	got := map[string]outcome{}
	for h, r := range results {
		o := outcome{Attempts: r.Attempts, Partial: r.Partial}
		if r.Err != nil {
			o.Class = r.Err.Class
		}
		got[h] = o
	}
	want := map[string]outcome{
		"good":       {"", 1, false},
		"badpw":      {rawcache.ClassAuth, 1, false},
		"unknownkey": {rawcache.ClassHostKey, 1, false},
		"changedkey": {rawcache.ClassHostKey, 1, false},
		"silent":     {rawcache.ClassTimeout, retries + 1, false},
		"hang":       {rawcache.ClassTimeout, retries + 1, false},
		"drop":       {rawcache.ClassDropped, 1, false},
		"invalid":    {rawcache.ClassUnknownCommand, 1, true},
		"badenable":  {rawcache.ClassSetup, 1, false},
		"closed":     {rawcache.ClassConnect, retries + 1, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for h, r := range results {
		if r.Err != nil {
			t.Logf("%s: %s", h, r.Err)
		}
	}
	// The connections each device saw: one per attempt.
	for name, n := range map[string]int{"badpw": badPw.Conns(), "unknownkey": unknownKey.Conns(), "hang": hang.Conns(), "drop": drop.Conns()} {
		if n != want[name].Attempts {
			t.Errorf("%s saw %d connections, want %d", name, n, want[name].Attempts)
		}
	}
	checkCache(t, cache, "good", ios, nil)

	if msg := results["unknownkey"].Err.Message; !strings.Contains(msg, "not in known_hosts") || !strings.Contains(msg, "SHA256:") {
		t.Errorf("unknown host key message = %q, want the fingerprint and known_hosts", msg)
	}
	if msg := results["changedkey"].Err.Message; !strings.Contains(msg, "changed") {
		t.Errorf("changed host key message = %q, want it to say changed", msg)
	}
	if msg := results["invalid"].Err.Message; !strings.Contains(msg, lldp.Command) || !strings.Contains(msg, "% Invalid input detected") {
		t.Errorf("refused command message = %q, want the command and the device's words", msg)
	}

	// The invalid device: every other command cached, LLDP's refusal recorded.
	meta := checkCache(t, cache, "invalid", ios, map[string]bool{lldp.Command: true})
	_, o, err := rawcache.Load(cache, meta, platform.KindLLDP)
	if err == nil || o.Error == nil || o.Error.Class != rawcache.ClassUnknownCommand {
		t.Errorf("invalid: LLDP output = %+v, %v; want an unknown_command failure", o, err)
	}
	// The dropped device: the commands before the drop are cached, the
	// dropped one is recorded as such, the rest are absent.
	meta, err = rawcache.Read(cache, "drop")
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Outputs) != 4 || meta.Outputs[3].Error == nil || meta.Outputs[3].Error.Class != rawcache.ClassDropped {
		t.Errorf("drop: outputs = %+v, want 3 collected and the 4th dropped", meta.Outputs)
	}
	for _, c := range ios.Commands[:3] {
		data, _, err := rawcache.Load(cache, meta, c.Kind)
		if err != nil || string(data) != cannedOutput("drop", c) {
			t.Errorf("drop: %s before the drop = %v, want what was sent", c.Kind, err)
		}
	}
	// A failed device still has a meta.json saying why.
	if m, err := rawcache.Read(cache, "badpw"); err != nil || m.Error == nil || m.Error.Class != rawcache.ClassAuth || len(m.Outputs) != 0 {
		t.Errorf("badpw meta = %+v, %v; want the auth failure and no outputs", m, err)
	}
	assertNoSecrets(t, cache, results)
}

func assertNoSecrets(t *testing.T, cache string, results map[string]Result) {
	t.Helper()
	var all strings.Builder
	for _, r := range results {
		fmt.Fprintf(&all, "%+v %v\n", r, r.Err)
	}
	_ = filepath.Walk(cache, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			all.Write(b)
		}
		return nil
	})
	for _, s := range []string{loginPassword, enableSecret, jumpPassword} {
		if strings.Contains(all.String(), s) {
			t.Errorf("a secret (%s…) appears in the results or the cache", s[:5])
		}
	}
}

func TestJumpHostsAndKeys(t *testing.T) {
	jump := fakedevice.StartJump(t, "jumper", jumpPassword)
	badJump := fakedevice.StartJump(t, "jumper", "not-this-one")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	behind := fake(t, "behind", "arista_eos", nil)
	behind2 := fake(t, "behind2", "juniper_junos", nil)
	keyed := fake(t, "keyed", "cisco_nxos", func(d *fakedevice.Device) { d.Password = ""; d.AuthorizedKey = signer.PublicKey() })
	head := fmt.Sprintf("jump_hosts:\n  bastion: {host: 127.0.0.1, port: %s, username: jumper, password: \"{{ env.JUMP_PASSWORD }}\"}\n"+
		"  wrong: {host: 127.0.0.1, port: %s, username: jumper, password: \"{{ env.JUMP_PASSWORD }}\"}\n",
		mustPort(jump.Addr), mustPort(badJump.Addr))
	devices := load(t, []string{jump.KnownHostsLine(), badJump.KnownHostsLine(), behind.KnownHostsLine(), behind2.KnownHostsLine(), keyed.KnownHostsLine()}, head, []entry{
		{host: "behind", deviceType: "arista_eos", addr: behind.Addr, extra: "jump_host: bastion"},
		{host: "behind2", deviceType: "juniper_junos", addr: behind2.Addr, extra: "jump_host: wrong"},
		{host: "keyed", deviceType: "cisco_nxos", addr: keyed.Addr, extra: "password: \"\", key_file: " + keyFile},
	})
	cache, results := runCollect(t, devices, 2, 1)
	if r := results["behind"]; r.Err != nil {
		t.Errorf("behind the jump host: %v", r.Err)
	} else {
		p, _ := platform.Lookup("arista_eos")
		checkCache(t, cache, "behind", p, nil)
	}
	if jump.Forwards() != 1 || behind.Conns() != 1 {
		t.Errorf("jump host forwarded %d connections, device saw %d; want 1 and 1", jump.Forwards(), behind.Conns())
	}
	r := results["behind2"]
	if r.Err == nil || r.Err.Class != rawcache.ClassAuth || !strings.Contains(r.Err.Message, "jump host wrong") || r.Attempts != 1 {
		t.Errorf("behind a jump host refusing the password: %+v %v; want auth naming the jump host, one attempt", r, r.Err)
	}
	if behind2.Conns() != 0 {
		t.Errorf("the device behind a refused jump host saw %d connections", behind2.Conns())
	}
	if r := results["keyed"]; r.Err != nil {
		t.Errorf("key-based login: %v", r.Err)
	} else {
		p, _ := platform.Lookup("cisco_nxos")
		checkCache(t, cache, "keyed", p, nil)
	}
	assertNoSecrets(t, cache, results)
}

func mustPort(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestScreenLine(t *testing.T) {
	for raw, want := range map[string]string{
		"plain  text  \r":                  "plain  text  ",
		"\r          \rnext line":          "next line",
		"\b\b\b   \b\b\bGi0/1 up\r":        "Gi0/1 up",
		"\x1b[2Kcolour \x1b[1mbold\x1b[0m": "colour bold",
	} {
		if got := screenLine(raw); got != want {
			t.Errorf("screenLine(%q) = %q, want %q", raw, got, want)
		}
	}
	for _, l := range []string{" --More-- ", "---(more 45%)---", "<--- More --->", "-- More --", "lines 1-20 --more--", "--More-- (q) quit (u) pageup"} {
		if !pagerRE.MatchString(l) {
			t.Errorf("pager %q is not recognised", l)
		}
	}
	for _, l := range []string{"r1#", "Ethernet1 is up, more to come", "admin@mx1> "} {
		if pagerRE.MatchString(l) {
			t.Errorf("%q taken for a pager", l)
		}
	}
}

func TestRejection(t *testing.T) {
	refused := []string{"        ^\n% Invalid input detected at '^' marker.\n", "% Invalid input\n",
		"        ^\nsyntax error, expecting <command>.\n", "Unknown action 0\nCommand fail. Return code -61\n",
		"ERROR: % Invalid input detected at '^' marker.\n", "CLINFR0329  Invalid command:'show x'.\n", "        ^\nInvalid syntax.\n"}
	for _, out := range refused {
		if rejection(out) == "" {
			t.Errorf("rejection(%q) = \"\", want the refusal", out)
		}
	}
	var lines []string
	for i := 0; i < 10; i++ {
		lines = append(lines, "line")
	}
	lines = append(lines, "% Invalid input in a config description")
	if got := rejection(strings.Join(lines, "\n")); got != "" {
		t.Errorf("rejection of a long output with the words deep inside = %q, want none", got)
	}
}
