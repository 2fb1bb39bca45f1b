package neo4jstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

// registry is every named query the server answers (as serve.go builds
// it). Each engine gets its own: memoized answers are keyed by version.
func registry(t *testing.T) *query.Registry {
	t.Helper()
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		t.Fatalf("registering the firewall queries: %v", err)
	}
	return reg
}

var graphOpts = graph.Options{RootRoles: graph.DefaultRootRoles()}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// side is one store with the engine over it.
type side struct {
	name string
	eng  *engine.Engine
	reg  *query.Registry
}

func newSide(t *testing.T, name string, st engine.Store) *side {
	t.Helper()
	eng := engine.New(st, graphOpts, quietLog())
	if err := eng.Load(context.Background()); err != nil {
		t.Fatalf("%s: Load = %v", name, err)
	}
	return &side{name: name, eng: eng, reg: registry(t)}
}

func normalized(t *testing.T, devs []facts.Device) []facts.Device {
	t.Helper()
	doc := &facts.Document{Schema: facts.Schema, Devices: devs}
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize = %v", err)
	}
	return doc.Devices
}

// argSets are parameter sets for every query, drawn from the graph's
// facts: a few values of each kind, so that every query is asked about
// something the graph has (and about something it lacks).
func argSets(g *graph.Graph, d *query.Definition) []map[string]query.RawValue {
	devs := g.Facts()
	var hosts, sites, roles, vendors, ips, macs, subnets, objects, firewalls []string
	var vlans []int
	zones := map[string][]string{}
	ifaces := map[string][]string{}
	for _, dv := range devs {
		hosts = append(hosts, dv.Hostname)
		sites = append(sites, dv.Site)
		roles = append(roles, dv.Role)
		vendors = append(vendors, dv.Vendor)
		for _, ifc := range dv.Interfaces {
			ifaces[dv.Hostname] = append(ifaces[dv.Hostname], ifc.Name)
			for _, ip := range ifc.IPs {
				if p, err := netip.ParsePrefix(ip); err == nil {
					ips = append(ips, p.Addr().String())
					subnets = append(subnets, p.Masked().String())
				}
			}
		}
		for _, v := range dv.VLANs {
			vlans = append(vlans, v.ID)
		}
		for _, a := range dv.ARP {
			ips = append(ips, a.IP)
		}
		for _, m := range dv.MACTable {
			macs = append(macs, m.MAC)
		}
		if dv.Firewall != nil {
			firewalls = append(firewalls, dv.Hostname)
			for _, o := range dv.Firewall.AddressObjects {
				objects = append(objects, o.Name)
			}
			for _, z := range dv.Firewall.Zones {
				zones[dv.Hostname] = append(zones[dv.Hostname], z.Name)
			}
		}
	}
	pick := func(l []string, k int) string {
		l = slices.Compact(slices.Sorted(slices.Values(l)))
		if len(l) == 0 {
			return "none"
		}
		return l[[]int{0, len(l) / 2, len(l) - 1}[k]]
	}
	var out []map[string]query.RawValue
	for k := range 3 {
		host := pick(hosts, k)
		if strings.HasPrefix(d.Name, "firewall_") || d.Name == "hygiene_shadowed_rules" {
			host = pick(firewalls, k)
		}
		raw := map[string]query.RawValue{}
		for _, p := range d.Params {
			var v any
			switch p.Name {
			case "hostname", "src_hostname":
				v = host
			case "dst_hostname":
				v = pick(hosts, 2-k)
			case "interface":
				v = pick(ifaces[host], k)
			case "site":
				v = pick(sites, k)
			case "role":
				v = pick(roles, k)
			case "vendor":
				v = pick(vendors, k)
			case "q":
				v = host[:min(3, len(host))]
			case "ip", "src_ip":
				v = pick(ips, k)
			case "dst_ip":
				v = pick(ips, 2-k)
			case "mac":
				if v = pick(macs, k); v == "none" {
					v = "aa:bb:cc:dd:ee:ff"
				}
			case "subnet":
				if v = pick(subnets, k); v == "none" {
					v = "10.0.0.0/8"
				}
			case "vlan":
				if len(vlans) == 0 {
					v = 1
				} else {
					slices.Sort(vlans)
					v = vlans[[]int{0, len(vlans) / 2, len(vlans) - 1}[k]]
				}
			case "name":
				v = pick(objects, k)
			case "src_zone":
				v = pick(zones[host], k)
			case "dst_zone":
				v = pick(zones[host], 2-k)
			case "protocol":
				v = []string{"any", "tcp", "udp"}[k]
			case "dst_port":
				v = []int{443, 22, 53}[k]
			default:
				continue // optional parameters this test does not know
			}
			if v == "none" && !p.Required {
				continue
			}
			b, _ := json.Marshal(v)
			raw[p.Name] = b
		}
		out = append(out, raw)
	}
	return out
}

// answers runs every read query of the registry with each argument set
// against the side's current graph; errors are answers too.
func (s *side) answers(t *testing.T, sets map[string][]map[string]query.RawValue) map[string]string {
	t.Helper()
	g := s.eng.Graph()
	out := map[string]string{}
	factsJSON, _ := json.Marshal(g.Facts())
	out["#facts"] = string(factsJSON)
	out["#version"] = fmt.Sprint(g.Version)
	for _, d := range s.reg.All() {
		if d.Write {
			continue
		}
		for i, raw := range sets[d.Name] {
			key := fmt.Sprintf("%s#%d", d.Name, i)
			resp, err := s.reg.Execute(context.Background(), d, &query.Env{Graph: g}, raw)
			if err != nil {
				out[key] = "error: " + err.Error()
				continue
			}
			b, err := json.Marshal(resp)
			if err != nil {
				t.Fatalf("%s: encoding %s: %v", s.name, key, err)
			}
			out[key] = string(b)
		}
	}
	return out
}

// allArgSets draws argument sets from g for every query.
func allArgSets(reg *query.Registry, g *graph.Graph) map[string][]map[string]query.RawValue {
	sets := map[string][]map[string]query.RawValue{}
	for _, d := range reg.All() {
		sets[d.Name] = argSets(g, d)
	}
	return sets
}

// compare asserts that b answers every query as a does and returns how
// many answers were compared.
func compare(t *testing.T, step string, a, b *side) int {
	t.Helper()
	sets := allArgSets(a.reg, a.eng.Graph())
	want, got := a.answers(t, sets), b.answers(t, sets)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s: %s on %s differs from %s:\n%s: %.600s\n%s: %.600s", step, k, b.name, a.name, a.name, want[k], b.name, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %s gave %d answers, %s %d", step, b.name, len(got), a.name, len(want))
	}
	return len(want)
}

// TestParityWithEmbedded feeds the same changes to the embedded store and
// to Neo4j and asserts that every named query answers the same after each
// change, and after both are reopened (restart).
func TestParityWithEmbedded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	emb, err := store.OpenEmbedded(dir)
	if err != nil {
		t.Fatalf("OpenEmbedded = %v", err)
	}
	neo := openEmpty(t, server.URI)
	a := newSide(t, "embedded", emb)
	b := newSide(t, "neo4j", neo)

	demoNet := normalized(t, demo.Generate(demo.Options{Seed: 7, Devices: demo.MinDevices}).Devices)
	campus := normalized(t, graphtest.Campus())
	firewall := normalized(t, pathtest.Document().Devices)

	// acc1 again, collected without metadata, one port now down and
	// re-described, a MAC moved; then dist1 with metadata of its own.
	acc1 := campus[slices.IndexFunc(campus, func(d facts.Device) bool { return d.Hostname == "acc1" })]
	acc1.Interfaces = slices.Clone(acc1.Interfaces)
	acc1.Interfaces[0].Description = "re-collected"
	acc1.Interfaces[0].OperUp = new(bool)
	acc1.MACTable = slices.Clone(acc1.MACTable)
	acc1.MACTable[0].Interface = acc1.Interfaces[1].Name
	dist1 := campus[slices.IndexFunc(campus, func(d facts.Device) bool { return d.Hostname == "dist1" })]
	dist1.Metadata = map[string]any{"owner": "campus-team", "rack": 12.0}

	type step struct {
		name string
		do   func(*side) error
	}
	ingest := func(mode string, devs []facts.Device) func(*side) error {
		return func(s *side) error { _, err := s.eng.Ingest(ctx, mode, devs); return err }
	}
	meta := func(host string, patch map[string]any) func(*side) error {
		return func(s *side) error { _, err := s.eng.UpdateMetadata(ctx, host, patch); return err }
	}
	steps := []step{
		{"replace demo", ingest(store.ModeReplace, demoNet)},
		{"merge campus", ingest(store.ModeMerge, campus)},
		{"merge firewall", ingest(store.ModeMerge, firewall)},
		{"metadata acc1", meta("acc1", map[string]any{"owner": "noc", "tags": []any{"a", "b"}, "racks": map[string]any{"u": 4}})},
		{"metadata acc1 removes a key", meta("acc1", map[string]any{"tags": nil, "floor": 3})},
		{"merge acc1 without metadata", ingest(store.ModeMerge, []facts.Device{acc1})},
		{"merge dist1 with metadata", ingest(store.ModeMerge, []facts.Device{dist1})},
		{"metadata " + demoNet[0].Hostname, meta(demoNet[0].Hostname, map[string]any{"owner": "dc"})},
		{"replace campus and firewall", ingest(store.ModeReplace, append(slices.Clone(campus), firewall...))},
		{"merge demo back", ingest(store.ModeMerge, demoNet)},
	}
	compared := 0
	for _, st := range steps {
		if err := st.do(a); err != nil {
			t.Fatalf("%s on embedded: %v", st.name, err)
		}
		if err := st.do(b); err != nil {
			t.Fatalf("%s on neo4j: %v", st.name, err)
		}
		compared += compare(t, st.name, a, b)
	}
	before := a.answers(t, allArgSets(a.reg, a.eng.Graph()))

	// Restart: both stores reopened, graphs loaded from them alone.
	if err := emb.Close(); err != nil {
		t.Fatalf("closing embedded: %v", err)
	}
	emb2, err := store.OpenEmbedded(dir)
	if err != nil {
		t.Fatalf("reopening embedded: %v", err)
	}
	defer emb2.Close()
	neo.Close()
	a2 := newSide(t, "embedded after restart", emb2)
	b2 := newSide(t, "neo4j after restart", open(t, server.URI))
	compared += compare(t, "restart", a2, b2)
	after := b2.answers(t, allArgSets(a.reg, a.eng.Graph()))
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after restart, neo4j answers %s differently from before: %.300s", k, after[k])
		}
	}
	if a2.eng.Graph().Version != uint64(len(steps)) {
		t.Errorf("graph version after %d changes = %d", len(steps), a2.eng.Graph().Version)
	}
	t.Logf("%d answers compared over %d changes and a restart (%d devices at the end)", compared, len(steps), len(b2.eng.Graph().Devices))
}
