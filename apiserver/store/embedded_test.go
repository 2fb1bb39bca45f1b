package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

func open(t testing.TB, dir string) *Embedded {
	t.Helper()
	s, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatalf("OpenEmbedded(%s) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func up(b bool) *bool { return &b }

// device is a small but complete device; n varies its content.
func device(name string, n int) facts.Device {
	hits := int64(n)
	return facts.Device{
		Hostname: name, MgmtIP: fmt.Sprintf("10.0.%d.%d", n/250, n%250+1), Vendor: "arista", Role: "access", Site: "hq",
		Interfaces: []facts.Interface{
			{Name: "Ethernet1", AdminUp: up(true), OperUp: up(n%2 == 0), SpeedMbps: 10000, MTU: 9214, Mode: "trunk", TrunkVLANs: []int{10, 20}},
			{Name: "Vlan10", IPs: []string{fmt.Sprintf("10.1.%d.1/24", n%250), "2001:db8::1/64"}},
		},
		VLANs:     []facts.VLAN{{ID: 10, Name: "users"}},
		Neighbors: []facts.Neighbor{{LocalInterface: "Ethernet1", RemoteHostname: "core", RemoteInterface: "Ethernet9", Protocol: "lldp"}},
		MACTable:  []facts.MACEntry{{MAC: "aa:bb:cc:00:00:01", VLAN: 10, Interface: "Ethernet1"}},
		Routes:    []facts.Route{{Prefix: "0.0.0.0/0", NextHop: "10.1.0.254"}},
		Firewall:  &facts.Firewall{DefaultAction: "deny", Rules: []facts.Rule{{RuleID: "1", RuleOrder: 1, Action: "permit", HitCount: &hits}}},
	}
}

func load(t testing.TB, s *Embedded) (uint64, map[string]facts.Device) {
	t.Helper()
	v, devs, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	m := make(map[string]facts.Device, len(devs))
	for i, d := range devs {
		if i > 0 && devs[i-1].Hostname >= d.Hostname {
			t.Errorf("Load() devices not sorted by hostname: %q before %q", devs[i-1].Hostname, d.Hostname)
		}
		m[d.Hostname] = d
	}
	return v, m
}

func ingest(t testing.TB, s *Embedded, mode string, devs ...facts.Device) uint64 {
	t.Helper()
	v, err := s.Ingest(context.Background(), mode, devs)
	if err != nil {
		t.Fatalf("Ingest(%s) = %v", mode, err)
	}
	return v
}

func byName(devs ...facts.Device) map[string]facts.Device {
	m := make(map[string]facts.Device)
	for _, d := range devs {
		m[d.Hostname] = d
	}
	return m
}

var cmpDevices = cmpopts.EquateEmpty()

func TestEmptyStore(t *testing.T) {
	s := open(t, t.TempDir())
	v, devs := load(t, s)
	if v != 0 || len(devs) != 0 {
		t.Errorf("Load() on a new store = %d, %d devices, want 0, 0", v, len(devs))
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}

func TestIngestMergeReplaceAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	a, b, c := device("a", 1), device("b", 2), device("c", 3)
	if v := ingest(t, s, ModeMerge, b, a); v != 1 {
		t.Errorf("first Ingest() version = %d, want 1", v)
	}
	b2 := device("b", 20)
	if v := ingest(t, s, ModeMerge, b2, c); v != 2 {
		t.Errorf("second Ingest() version = %d, want 2", v)
	}
	v, got := load(t, s)
	if diff := cmp.Diff(byName(a, b2, c), got, cmpDevices); v != 2 || diff != "" {
		t.Errorf("Load() after merges = version %d, want 2; devices (-want +got):\n%s", v, diff)
	}

	// Replace: the document is the whole network.
	c3 := device("c", 30)
	d := device("d", 4)
	if v := ingest(t, s, ModeReplace, d, c3); v != 3 {
		t.Errorf("replace Ingest() version = %d, want 3", v)
	}
	v, got = load(t, s)
	if diff := cmp.Diff(byName(c3, d), got, cmpDevices); v != 3 || diff != "" {
		t.Errorf("Load() after replace = version %d, want 3; devices (-want +got):\n%s", v, diff)
	}

	// Replace with nothing empties the store; the version still moves.
	if v := ingest(t, s, ModeReplace); v != 4 {
		t.Errorf("empty replace version = %d, want 4", v)
	}
	ingest(t, s, ModeMerge, a)

	// Everything survives a reopen.
	s.Close()
	s = open(t, dir)
	v, got = load(t, s)
	if diff := cmp.Diff(byName(a), got, cmpDevices); v != 5 || diff != "" {
		t.Errorf("Load() after reopen = version %d, want 5; devices (-want +got):\n%s", v, diff)
	}
}

func TestIngestRejectsBadInput(t *testing.T) {
	s := open(t, t.TempDir())
	ingest(t, s, ModeMerge, device("a", 1))
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		mode string
		devs []facts.Device
		want string
	}{
		{"mode", ctx, "upsert", []facts.Device{device("b", 2)}, `mode "upsert"`},
		{"no hostname", ctx, ModeMerge, []facts.Device{device("b", 2), {}}, "devices[1] has no hostname"},
		{"duplicate", ctx, ModeReplace, []facts.Device{device("b", 2), device("c", 3), device("b", 4)}, `hostname "b" given twice`},
		{"unencodable metadata", ctx, ModeReplace, []facts.Device{device("b", 2), {Hostname: "c", Metadata: map[string]any{"f": func() {}}}}, `metadata of "c"`},
		{"cancelled", cancelled, ModeReplace, []facts.Device{device("b", 2)}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.Ingest(tt.ctx, tt.mode, tt.devs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ingest() = %d, %v, want an error containing %q", v, err, tt.want)
			}
			// A failed ingest changes nothing.
			v, got := load(t, s)
			if diff := cmp.Diff(byName(device("a", 1)), got, cmpDevices); v != 1 || diff != "" {
				t.Errorf("Load() after failed ingest = version %d, want 1; devices (-want +got):\n%s", v, diff)
			}
		})
	}
}

// TestIngestAtomicMidTransaction fails an ingest after hundreds of
// devices were written inside its transaction (the last key is longer than
// bbolt accepts): the transaction must roll back whole, replace deletions
// included.
func TestIngestAtomicMidTransaction(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ingest(t, s, ModeMerge, device("keep", 0))
	var devs []facts.Device
	for i := range 1000 {
		devs = append(devs, device(fmt.Sprintf("d%04d", i), i))
	}
	devs = append(devs, device("z"+strings.Repeat("z", bolt.MaxKeySize), 1))
	_, err := s.Ingest(context.Background(), ModeReplace, devs)
	if !errors.Is(err, bolterrors.ErrKeyTooLarge) {
		t.Fatalf("Ingest(key too large) = %v, want ErrKeyTooLarge", err)
	}
	v, got := load(t, s)
	if diff := cmp.Diff(byName(device("keep", 0)), got, cmpDevices); v != 1 || diff != "" {
		t.Errorf("Load() after failed ingest = version %d, want 1; devices (-want +got):\n%s", v, diff)
	}
	s.Close()
	s = open(t, dir)
	if v, got = load(t, s); v != 1 || len(got) != 1 {
		t.Errorf("Load() after reopen = version %d, %d devices, want 1, 1", v, len(got))
	}
}

func TestMetadata(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	ingest(t, s, ModeMerge, device("a", 1), device("b", 2))

	if _, _, err := s.UpdateMetadata(ctx, "zz", map[string]any{"k": 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateMetadata(unknown) = %v, want ErrNotFound", err)
	}
	v, dev, err := s.UpdateMetadata(ctx, "a", map[string]any{"owner": "netops", "rack": 12, "tags": []any{"x"}})
	if err != nil {
		t.Fatalf("UpdateMetadata() = %v", err)
	}
	want := map[string]any{"owner": "netops", "rack": float64(12), "tags": []any{"x"}}
	if v != 2 || !cmp.Equal(dev.Metadata, want) || dev.Hostname != "a" || len(dev.Interfaces) != 2 {
		t.Errorf("UpdateMetadata() = %d, %+v, want 2 and the device with metadata %v", v, dev, want)
	}
	v, dev, err = s.UpdateMetadata(ctx, "a", map[string]any{"rack": nil, "row": "B"})
	want = map[string]any{"owner": "netops", "row": "B", "tags": []any{"x"}}
	if err != nil || v != 3 || !cmp.Equal(dev.Metadata, want) {
		t.Errorf("UpdateMetadata(rack: null) = %d, %v, %v, want 3, %v, nil", v, dev.Metadata, err, want)
	}

	// A collector re-ingesting the device without metadata keeps it; a
	// replace that keeps the device keeps it too.
	ingest(t, s, ModeMerge, device("a", 5))
	ingest(t, s, ModeReplace, device("a", 6), device("b", 2))
	_, got := load(t, s)
	if !cmp.Equal(got["a"].Metadata, want) {
		t.Errorf("metadata after re-ingest = %v, want %v", got["a"].Metadata, want)
	}
	if got["a"].MgmtIP != device("a", 6).MgmtIP {
		t.Errorf("facts after re-ingest = %q, want the new ones", got["a"].MgmtIP)
	}

	// Ingested metadata replaces it.
	withMeta := device("a", 7)
	withMeta.Metadata = map[string]any{"source": "netbox"}
	ingest(t, s, ModeMerge, withMeta)
	_, got = load(t, s)
	if want := map[string]any{"source": "netbox"}; !cmp.Equal(got["a"].Metadata, want) {
		t.Errorf("metadata after ingest with metadata = %v, want %v", got["a"].Metadata, want)
	}

	// Removing every key leaves no metadata; removing the device by
	// replace removes its metadata, so a device of the same name that
	// comes back later starts clean.
	_, dev, err = s.UpdateMetadata(ctx, "a", map[string]any{"source": nil})
	if err != nil || dev.Metadata != nil {
		t.Errorf("UpdateMetadata(remove all) = %v, %v, want nil metadata", dev.Metadata, err)
	}
	s.UpdateMetadata(ctx, "b", map[string]any{"k": "v"})
	ingest(t, s, ModeReplace, device("a", 8))
	ingest(t, s, ModeMerge, device("b", 9))
	s.Close()
	s = open(t, dir)
	_, got = load(t, s)
	if got["b"].Metadata != nil || got["a"].Metadata != nil {
		t.Errorf("metadata after removal and reopen = a %v, b %v, want none", got["a"].Metadata, got["b"].Metadata)
	}
}

func TestMergeMetadataDoesNotModifyBase(t *testing.T) {
	base := map[string]any{"a": 1, "b": 2}
	got := MergeMetadata(base, map[string]any{"a": nil, "c": 3})
	if want := map[string]any{"b": 2, "c": 3}; !cmp.Equal(got, want) {
		t.Errorf("MergeMetadata() = %v, want %v", got, want)
	}
	if want := map[string]any{"a": 1, "b": 2}; !cmp.Equal(base, want) {
		t.Errorf("MergeMetadata() changed base to %v, want %v", base, want)
	}
	if got := MergeMetadata(nil, map[string]any{"a": nil}); got != nil {
		t.Errorf("MergeMetadata(nil, {a: null}) = %v, want nil", got)
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEmbedded(""); err == nil {
		t.Error(`OpenEmbedded("") = nil, want an error`)
	}
	if _, err := OpenEmbedded(file); err == nil || !strings.Contains(err.Error(), "creating data directory") {
		t.Errorf("OpenEmbedded(a file) = %v, want a data directory error", err)
	}
	if _, err := OpenEmbedded(filepath.Join(file, "sub")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("OpenEmbedded(under a file) = %v, want a not-a-directory error", err)
	}

	// Garbage where the store file should be.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenEmbedded(dir); err == nil {
		s.Close()
		t.Error("OpenEmbedded(garbage file) = nil, want an error")
	}

	// A store written by a newer format is refused.
	dir = t.TempDir()
	s := open(t, dir)
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, u64(formatVersion+1)) })
	db.Close()
	if _, err := OpenEmbedded(dir); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("OpenEmbedded(newer format) = %v, want a format error", err)
	}
}

func TestClosedStore(t *testing.T) {
	s := open(t, t.TempDir())
	s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping() on a closed store = nil, want an error")
	}
	if _, err := s.Ingest(ctx, ModeMerge, []facts.Device{device("a", 1)}); err == nil {
		t.Error("Ingest() on a closed store = nil, want an error")
	}
	if _, _, err := s.Load(ctx); err == nil {
		t.Error("Load() on a closed store = nil, want an error")
	}
}

// TestTornMetaPage simulates a torn write of the last commit's meta page
// (bbolt writes it last, with a checksum): the store must open on the
// previous commit, whole, and go on working.
func TestTornMetaPage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ingest(t, s, ModeMerge, device("a", 1))
	ingest(t, s, ModeReplace, device("b", 2))
	s.Close()

	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Meta pages are pages 0 and 1; the txid sits 64 bytes into each. Tear
	// the newer one by scribbling over its middle.
	pageSize := int64(os.Getpagesize())
	txid := func(page int64) uint64 {
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, page*pageSize+64); err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(b)
	}
	newer := int64(0)
	if txid(1) > txid(0) {
		newer = 1
	}
	if _, err := f.WriteAt([]byte("torn write torn write"), newer*pageSize+24); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = open(t, dir)
	v, got := load(t, s)
	if diff := cmp.Diff(byName(device("a", 1)), got, cmpDevices); v != 1 || diff != "" {
		t.Errorf("Load() after a torn meta page = version %d, want 1 (the previous commit); devices (-want +got):\n%s", v, diff)
	}
	if v := ingest(t, s, ModeMerge, device("c", 3)); v != 2 {
		t.Errorf("Ingest() after recovery = version %d, want 2", v)
	}
	_, got = load(t, s)
	if len(got) != 2 {
		t.Errorf("Load() after recovery and ingest = %d devices, want 2", len(got))
	}
}

// TestReadOnlyDirectory: a data directory that cannot be written gives a
// clear error at open, naming the directory, and never a half-made store.
// As root, permissions do not stop writes, so the test uses /proc, where
// nobody can create directories.
func TestReadOnlyDirectory(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = "/proc/self/meshq-data"
	} else {
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(parent, 0o755) })
		dir = filepath.Join(parent, "data")
	}
	s, err := OpenEmbedded(dir)
	if err == nil {
		s.Close()
		t.Fatalf("OpenEmbedded(%s) = nil, want an error", dir)
	}
	if !strings.Contains(err.Error(), "creating data directory") || !strings.Contains(err.Error(), filepath.Base(dir)) {
		t.Errorf("OpenEmbedded(%s) = %v, want a data directory error naming it", dir, err)
	}
}

// TestRoundTripDemoNetwork stores a whole demo network (every kind of fact,
// firewalls with rich policies, IPv6) and checks that it loads back equal,
// after a reopen too: what the graph is built from after a restart is
// exactly what was ingested.
func TestRoundTripDemoNetwork(t *testing.T) {
	doc := demo.Generate(demo.Options{Seed: 5, Devices: 150, FirewallRules: 150})
	if err := facts.Normalize(doc); err != nil {
		t.Fatal(err)
	}
	doc.Devices[3].Metadata = map[string]any{"owner": "netops", "tags": []any{"a", "b"}, "rack": 12.0}
	dir := t.TempDir()
	s := open(t, dir)
	ingest(t, s, ModeReplace, doc.Devices...)
	s.Close()
	s = open(t, dir)
	_, devs, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(doc.Devices)
	slices.SortFunc(want, func(a, b facts.Device) int { return strings.Compare(a.Hostname, b.Hostname) })
	if diff := cmp.Diff(want, devs, cmpDevices); diff != "" {
		t.Errorf("Load() after storing the demo network differs (-want +got):\n%s", diff)
	}
}
