package postgres_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres/pgtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

// The PostgreSQL benchmarks start a server and take minutes at 10,000
// devices on a small machine: they run when BENCH_POSTGRES is set
// (make bench BENCH_POSTGRES=1).
func needPostgres(b *testing.B) {
	if os.Getenv("BENCH_POSTGRES") == "" {
		b.Skip("PostgreSQL benchmarks run with BENCH_POSTGRES=1 (make bench BENCH_POSTGRES=1)")
	}
}

var (
	benchNetMu sync.Mutex
	benchNets  = map[int][]facts.Device{}
)

func benchNetwork(n int) []facts.Device {
	benchNetMu.Lock()
	defer benchNetMu.Unlock()
	if benchNets[n] == nil {
		benchNets[n] = demo.Generate(demo.Options{Seed: 1, Devices: n}).Devices
	}
	return benchNets[n]
}

// benchIngest replaces the whole demo network in one transaction (the
// first time into an empty database) and reports devices per second.
func benchIngest(b *testing.B, n int) {
	needPostgres(b)
	devs := benchNetwork(n)
	srv := pgtest.Start(b, pgtest.Options{})
	s, err := postgres.Open(srv.CreateDatabase(b, "bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	var spent time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Ingest(ctx, store.ModeReplace, devs); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/spent.Seconds(), "devices/s")
}

func BenchmarkPostgresIngest1k(b *testing.B)  { benchIngest(b, 1000) }
func BenchmarkPostgresIngest10k(b *testing.B) { benchIngest(b, 10000) }

// benchRestart is what a restart does before /health/ready answers: open
// the store, load every device and build the graph.
func benchRestart(b *testing.B, n int) {
	needPostgres(b)
	devs := benchNetwork(n)
	srv := pgtest.Start(b, pgtest.Options{})
	dsn := srv.CreateDatabase(b, "bench")
	s, err := postgres.Open(dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Ingest(ctx, store.ModeReplace, devs); err != nil {
		b.Fatal(err)
	}
	s.Close()
	var load, build time.Duration
	for b.Loop() {
		start := time.Now()
		s, err := postgres.Open(dsn, nil)
		if err != nil {
			b.Fatal(err)
		}
		v, got, err := s.Load(ctx)
		if err != nil || len(got) != len(devs) {
			b.Fatalf("Load = %d devices, %v; want %d", len(got), err, len(devs))
		}
		load += time.Since(start)
		start = time.Now()
		graph.Build(v, got, graph.Options{RootRoles: graph.DefaultRootRoles()})
		build += time.Since(start)
		s.Close()
	}
	b.ReportMetric(load.Seconds()/float64(b.N), "s-load")
	b.ReportMetric(build.Seconds()/float64(b.N), "s-build")
}

func BenchmarkPostgresRestart1k(b *testing.B)  { benchRestart(b, 1000) }
func BenchmarkPostgresRestart10k(b *testing.B) { benchRestart(b, 10000) }
