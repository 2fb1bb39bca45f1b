package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres/pgtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range slices.Backward(sharedCleanups) {
		f()
	}
	os.Exit(code)
}

var ctx = context.Background()

// server is one PostgreSQL for the tests that do not stop it; each test
// gets a database of its own.
var (
	sharedOnce sync.Once
	shared     *pgtest.Server
	dbSeq      int
	dbMu       sync.Mutex
)

func newDB(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() { shared = pgtest.Start(&keepAlive{t}, pgtest.Options{}) })
	if shared == nil {
		t.Fatal("the shared PostgreSQL did not start")
	}
	dbMu.Lock()
	dbSeq++
	name := fmt.Sprintf("t%d", dbSeq)
	dbMu.Unlock()
	return shared.CreateDatabase(t, name)
}

// keepAlive lets the shared server outlive the test that started it: its
// cleanups run from TestMain instead.
type keepAlive struct{ *testing.T }

var sharedCleanups []func()

func (k *keepAlive) Cleanup(f func()) { sharedCleanups = append(sharedCleanups, f) }

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(dsn, nil)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func normalized(t testing.TB, devs []facts.Device) []facts.Device {
	t.Helper()
	doc := facts.Document{Schema: facts.Schema, Devices: devs}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatalf("Normalize = %v", err)
	}
	return doc.Devices
}

// everyField is a device with every field of the facts format set (found
// by reflection, so a field added to the format later is covered here and
// fails until the store keeps it).
func everyField(name string) facts.Device {
	var d facts.Device
	fill(reflect.ValueOf(&d).Elem(), 1)
	d.Hostname = name
	return d
}

func fill(v reflect.Value, n int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", strings.ToLower(v.Type().Name()), n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(n + 6))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n+i)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n+i)
		}
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]any{"owner": "noc", "rack": float64(n)}))
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func withUniqueNames(d facts.Device) facts.Device {
	for i := range d.Interfaces {
		d.Interfaces[i].Name = fmt.Sprintf("eth%d", i)
	}
	for i := range d.VLANs {
		d.VLANs[i].ID = 10 + i
	}
	return d
}

func TestRoundTripEveryField(t *testing.T) {
	s := open(t, newDB(t))
	empty := facts.Device{Hostname: "bare", Firewall: &facts.Firewall{}}
	in := []facts.Device{withUniqueNames(everyField("full")), empty}
	v, err := s.Ingest(ctx, store.ModeReplace, in)
	if err != nil || v != 1 {
		t.Fatalf("Ingest = %d, %v; want 1, nil", v, err)
	}
	lv, got, err := s.Load(ctx)
	if err != nil || lv != 1 {
		t.Fatalf("Load = %d, %v", lv, err)
	}
	want := slices.Clone(in)
	slices.SortFunc(want, func(a, b facts.Device) int { return strings.Compare(a.Hostname, b.Hostname) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load after Ingest differs (-ingested +loaded):\n%s", diff)
	}
}

// apply runs one step on a store and returns the version it made.
type step struct {
	name  string
	mode  string
	devs  []facts.Device
	host  string
	patch map[string]any
}

func steps(t *testing.T) []step {
	campus := normalized(t, graphtest.Campus())
	fw := normalized(t, pathtest.Document().Devices)
	dc := normalized(t, demo.Generate(demo.Options{Devices: 40, Seed: 3}).Devices)
	withMeta := slices.Clone(campus[:2])
	withMeta[0].Metadata = map[string]any{"owner": "netops", "tier": float64(1)}
	return []step{
		{name: "replace campus", mode: store.ModeReplace, devs: campus},
		{name: "metadata", host: campus[1].Hostname, patch: map[string]any{"rack": "r12", "n": 3}},
		{name: "merge firewall", mode: store.ModeMerge, devs: fw},
		{name: "merge re-collected (keeps metadata)", mode: store.ModeMerge, devs: campus[1:3]},
		{name: "merge with metadata", mode: store.ModeMerge, devs: withMeta},
		{name: "metadata removes a key", host: campus[0].Hostname, patch: map[string]any{"owner": nil}},
		{name: "replace demo", mode: store.ModeReplace, devs: dc},
		{name: "merge campus back", mode: store.ModeMerge, devs: campus},
		{name: "replace with fewer", mode: store.ModeReplace, devs: campus[:3]},
	}
}

func (st step) apply(t *testing.T, s interface {
	Ingest(context.Context, string, []facts.Device) (uint64, error)
	UpdateMetadata(context.Context, string, map[string]any) (uint64, facts.Device, error)
}) (uint64, *facts.Device) {
	t.Helper()
	if st.host != "" {
		v, d, err := s.UpdateMetadata(ctx, st.host, st.patch)
		if err != nil {
			t.Fatalf("%s: UpdateMetadata = %v", st.name, err)
		}
		return v, &d
	}
	v, err := s.Ingest(ctx, st.mode, st.devs)
	if err != nil {
		t.Fatalf("%s: Ingest = %v", st.name, err)
	}
	return v, nil
}

// TestSameAsEmbedded applies one sequence of merges, replaces and metadata
// updates to both stores: after each, both are at the same version and
// load the same devices.
func TestSameAsEmbedded(t *testing.T) {
	pg := open(t, newDB(t))
	emb, err := store.OpenEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	for _, st := range steps(t) {
		ve, de := st.apply(t, emb)
		vp, dp := st.apply(t, pg)
		if ve != vp {
			t.Fatalf("%s: version embedded %d, postgres %d", st.name, ve, vp)
		}
		if diff := cmp.Diff(de, dp); diff != "" {
			t.Errorf("%s: UpdateMetadata device differs (-embedded +postgres):\n%s", st.name, diff)
		}
		le, ge, err := emb.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lp, gp, err := pg.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if le != lp {
			t.Errorf("%s: loaded version embedded %d, postgres %d", st.name, le, lp)
		}
		if diff := cmp.Diff(ge, gp, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s: loaded devices differ (-embedded +postgres):\n%s", st.name, diff)
		}
	}
	if _, _, err := pg.UpdateMetadata(ctx, "no-such-device", map[string]any{"a": 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateMetadata(unknown) = %v, want ErrNotFound", err)
	}
}

func TestIngestRefusesDuplicatesAndChangesNothing(t *testing.T) {
	s := open(t, newDB(t))
	if _, err := s.Ingest(ctx, store.ModeReplace, normalized(t, graphtest.Campus())); err != nil {
		t.Fatal(err)
	}
	d := facts.Device{Hostname: "x"}
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{d, d}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("Ingest(duplicate) = %v, want given twice", err)
	}
	// A failure inside the transaction (a device listing an interface
	// twice breaks the primary key) rolls back the deletes before it.
	bad := facts.Device{Hostname: "y", Interfaces: []facts.Interface{{Name: "e1"}, {Name: "e1"}}}
	if _, err := s.Ingest(ctx, store.ModeReplace, []facts.Device{bad}); err == nil {
		t.Fatal("Ingest(interface twice) = nil, want an error")
	}
	v, devs, err := s.Load(ctx)
	if err != nil || v != 1 || len(devs) != len(graphtest.Campus()) {
		t.Errorf("after failed ingests: version %d, %d devices, %v; want 1, %d, nil", v, len(devs), err, len(graphtest.Campus()))
	}
}

func TestMigrateIdempotentAndNewerSchemaRefused(t *testing.T) {
	dsn := newDB(t)
	s := open(t, dsn)
	from, to, err := s.Migrate(ctx)
	if err != nil || from != 0 || to != postgres.SchemaVersion() {
		t.Fatalf("Migrate = %d→%d, %v; want 0→%d", from, to, err, postgres.SchemaVersion())
	}
	if from, to, err = s.Migrate(ctx); err != nil || from != to || to != postgres.SchemaVersion() {
		t.Fatalf("second Migrate = %d→%d, %v; want no change", from, to, err)
	}
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "a"}}); err != nil {
		t.Fatal(err)
	}
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	shared.SQL(t, db, "INSERT INTO meshq.schema_migrations (version, name) VALUES (99, 'from_the_future')")
	s2 := open(t, dsn)
	_, _, err = s2.Load(ctx)
	var se *postgres.SchemaError
	if !errors.As(err, &se) || se.Database != 99 || !strings.Contains(err.Error(), "newer than this apiserver knows") {
		t.Fatalf("Load on a newer schema = %v, want a SchemaError for version 99", err)
	}
	if got := shared.SQL(t, db, "SELECT count(*) FROM meshq.devices"); strings.TrimSpace(got) != "1" {
		t.Errorf("devices after the refusal = %q, want 1 (untouched)", got)
	}
}

// TestUpgradeFromSchema1 migrates a database written by a binary of
// schema version 1: its rows load unchanged (the new columns empty), and
// the facts extensions then round trip, an unresolved neighbour and an
// unnumbered session included.
func TestUpgradeFromSchema1(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	initial, err := os.ReadFile("migrations/0001_initial.sql")
	if err != nil {
		t.Fatal(err)
	}
	shared.SQL(t, db, "CREATE SCHEMA meshq; CREATE TABLE meshq.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
	shared.SQL(t, db, string(initial))
	shared.SQL(t, db, `INSERT INTO meshq.schema_migrations (version, name) VALUES (1, 'initial');
INSERT INTO meshq.graph_versions (version, operation, devices) VALUES (1, 'replace', 1);
INSERT INTO meshq.devices (hostname, vendor, graph_version) VALUES ('old', 'cisco', 1);
INSERT INTO meshq.arp_entries (hostname, position, ip, mac) VALUES ('old', 0, '10.0.0.2', 'aa:bb:cc:00:00:02');
INSERT INTO meshq.routes (hostname, position, prefix, next_hop) VALUES ('old', 0, '0.0.0.0/0', '10.0.0.1');
INSERT INTO meshq.bgp_peers (hostname, position, peer_ip, remote_as) VALUES ('old', 0, '10.0.0.1', 65001)`)
	s := open(t, dsn)
	v, got, err := s.Load(ctx)
	want := []facts.Device{{Hostname: "old", Vendor: "cisco",
		ARP:      []facts.ARPEntry{{IP: "10.0.0.2", MAC: "aa:bb:cc:00:00:02"}},
		Routes:   []facts.Route{{Prefix: "0.0.0.0/0", NextHop: "10.0.0.1"}},
		BGPPeers: []facts.BGPPeer{{PeerIP: "10.0.0.1", RemoteAS: 65001}}}}
	if err != nil || v != 1 || !cmp.Equal(got, want) {
		t.Fatalf("Load after the upgrade = %d, %+v, %v; want 1, %+v", v, got, err, want)
	}
	if mv := strings.TrimSpace(shared.SQL(t, db, "SELECT max(version) FROM meshq.schema_migrations")); mv != strconv.Itoa(postgres.SchemaVersion()) {
		t.Errorf("schema version after the upgrade = %s, want %d", mv, postgres.SchemaVersion())
	}
	zero := 0
	ext := facts.Device{Hostname: "new",
		ARP:      []facts.ARPEntry{{IP: "10.0.0.9", State: facts.NeighborIncomplete}},
		Routes:   []facts.Route{{Prefix: "10.0.0.0/24", Interface: "Vlan10", AdminDistance: &zero, Action: facts.RouteForward}},
		BGPPeers: []facts.BGPPeer{{PeerInterface: "Ethernet1", AFISafi: []facts.AFISafi{{Name: "l2vpn-evpn"}}}}}
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{ext}); err != nil {
		t.Fatal(err)
	}
	want = []facts.Device{ext, want[0]} // by hostname
	if _, got, err = s.Load(ctx); err != nil || !cmp.Equal(got, want) {
		t.Errorf("Load after ingesting the extensions = %+v, %v; want %+v", got, err, want)
	}
}

// TestConcurrentIngestsSerialize runs ingests from two stores (two
// replicas' pools) at once: every version from 1 to the number of writes
// is taken exactly once and no merge is lost.
func TestConcurrentIngestsSerialize(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	const each = 15
	var mu sync.Mutex
	var versions []uint64
	var wg sync.WaitGroup
	for r, s := range []*postgres.Store{a, b} {
		wg.Go(func() {
			for i := range each {
				host := fmt.Sprintf("r%d-d%02d", r, i)
				v, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: host, Vendor: "arista"}})
				if err == nil && i%3 == 0 {
					v, _, err = s.UpdateMetadata(ctx, host, map[string]any{"i": i})
				}
				if err != nil {
					t.Errorf("replica %d write %d = %v", r, i, err)
					return
				}
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lv, devs, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writes := 2 * (each + (each+2)/3)
	if lv != uint64(writes) || len(devs) != 2*each {
		t.Errorf("after %d writes: version %d, %d devices; want %d, %d", writes, lv, len(devs), writes, 2*each)
	}
	slices.Sort(versions)
	// Each returned version is the last of its operation (merge+metadata
	// pairs report the metadata's); all are distinct.
	if len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("two writes got the same version: %v", versions)
	}
	if got := strings.TrimSpace(shared.SQL(t, dbName(dsn), "SELECT count(*) || ' ' || min(version) || ' ' || max(version) FROM meshq.graph_versions")); got != fmt.Sprintf("%d 1 %d", writes, writes) {
		t.Errorf("graph_versions = %q, want %d rows from 1 to %d", got, writes, writes)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func dbName(dsn string) string { return dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")] }

func TestWatchSeesAnotherWriter(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	a.PollInterval = time.Hour // the notification, not the poll
	if _, err := a.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "a"}}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan uint64, 16)
	go a.Watch(wctx, discardLog(), func(_ context.Context, v uint64) { seen <- v })
	if v := <-seen; v != 1 {
		t.Fatalf("first version seen = %d, want 1 (the catch-up at connect)", v)
	}
	if _, err := b.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "b"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-seen:
		if v != 2 {
			t.Errorf("version notified = %d, want 2", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification of the other store's ingest")
	}
}

func TestTLSRequired(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{TLS: true})
	dsn := srv.CreateDatabase(t, "tls")
	if !postgres.TLSRequired(dsn) {
		t.Errorf("TLSRequired(sslmode=require) = false")
	}
	s := open(t, dsn)
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "a"}}); err != nil {
		t.Fatalf("Ingest over sslmode=require = %v", err)
	}
	if got := strings.TrimSpace(srv.SQL(t, "tls", "SELECT count(*) FROM pg_stat_ssl WHERE ssl")); got == "0" {
		t.Errorf("no TLS connection in pg_stat_ssl")
	}
	verify := open(t, srv.DSN("tls", "sslmode", "verify-full", "sslrootcert", srv.CAFile))
	if err := verify.Ping(ctx); err != nil {
		t.Errorf("Ping over verify-full with the CA = %v", err)
	}
	// The server refuses plain connections: sslmode=disable is honoured,
	// not upgraded.
	plain := open(t, srv.DSN("tls", "sslmode", "disable"))
	if err := plain.Ping(ctx); err == nil || !strings.Contains(err.Error(), "no encryption") {
		t.Errorf("Ping over sslmode=disable to a TLS-only server = %v, want the server's refusal", err)
	}
	if postgres.TLSRequired(srv.DSN("tls", "sslmode", "prefer")) {
		t.Errorf("TLSRequired(sslmode=prefer) = true")
	}
}

// TestDownAndBack stops the database under a store: writes fail as
// unavailable with nothing applied, and once it is back the same store
// writes again without being reopened.
func TestDownAndBack(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	s := open(t, srv.CreateDatabase(t, "flaky"))
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "a"}}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	var ue *store.UnavailableError
	if _, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "b"}}); !errors.As(err, &ue) {
		t.Errorf("Ingest with the database down = %v, want *store.UnavailableError", err)
	}
	if err := s.Ping(ctx); !errors.As(err, &ue) || strings.Contains(ue.Reason, "127.0.0.1") || strings.Contains(ue.Reason, pgtest.Password) {
		t.Errorf("Ping with the database down = %v, want unavailable with a reason naming neither address nor secret", err)
	}
	srv.Start(t)
	v, err := s.Ingest(ctx, store.ModeMerge, []facts.Device{{Hostname: "c"}})
	if err != nil || v != 2 {
		t.Fatalf("Ingest after the database returned = %d, %v; want 2, nil", v, err)
	}
	_, devs, err := s.Load(ctx)
	if err != nil || len(devs) != 2 {
		t.Errorf("Load = %d devices, %v; want a and c", len(devs), err)
	}
}

func TestValidateDSN(t *testing.T) {
	for _, bad := range []string{"", "mysql://u:p@h/db", "postgres://u:secretpw@h:notaport/db", "postgres://u:secretpw@h/db?sslmode=sometimes"} {
		err := postgres.ValidateDSN(bad)
		if err == nil {
			t.Errorf("ValidateDSN(%q) = nil, want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("ValidateDSN(%q) = %v, repeats the password", bad, err)
		}
	}
	if err := postgres.ValidateDSN("postgres://meshq:pw@db:5432/meshq?sslmode=require"); err != nil {
		t.Errorf("ValidateDSN(good) = %v", err)
	}
}

// TestReadmeSQLRuns runs every example of README.md against a loaded demo
// network: the documented model is the one migrated.
func TestReadmeSQLRuns(t *testing.T) {
	dsn := newDB(t)
	s := open(t, dsn)
	devs := normalized(t, demo.Generate(demo.Options{Devices: 60, Seed: 2}).Devices)
	if _, err := s.Ingest(ctx, store.ModeReplace, devs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateMetadata(ctx, devs[0].Hostname, map[string]any{"owner": "noc"}); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	blocks, rows := 0, 0
	for _, part := range strings.Split(string(readme), "```sql\n")[1:] {
		sql, _, _ := strings.Cut(part, "```")
		results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
		if err != nil {
			t.Errorf("README example fails: %v\n%s", err, sql)
			continue
		}
		blocks++
		for _, r := range results {
			rows += len(r.Rows)
		}
	}
	if blocks < 8 || rows == 0 {
		t.Errorf("%d README examples ran, %d rows in all; want every example and some rows", blocks, rows)
	}
}

// TestWrongPasswordIsNotRetried: credentials the server refuses are no
// outage to wait out, so they are not an UnavailableError.
func TestWrongPasswordIsNotRetried(t *testing.T) {
	dsn := newDB(t)
	bad := strings.Replace(dsn, pgtest.Password, "wrong-password", 1)
	s := open(t, bad)
	_, _, err := s.Load(ctx)
	var ue *store.UnavailableError
	if err == nil || errors.As(err, &ue) {
		t.Errorf("Load with a wrong password = %v, want a permanent error", err)
	}
}
