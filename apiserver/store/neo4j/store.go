// Package neo4jstore keeps the network graph in Neo4j 5, in a native graph
// model that operators can read with their own Cypher (README.md describes
// it). It is persistence only: every named query is answered by the
// in-memory engine, which loads the whole graph at start.
//
// Each Device node also keeps the device's normalized facts as JSON
// (property facts) and its user metadata as JSON (property metadata):
// Load rebuilds exactly the documents that were ingested from those two,
// while the native nodes and relationships beside them are there for
// people and tools. Both are written in the same transaction, so they
// never disagree.
package neo4jstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/tracing"
)

// formatVersion is the model this code reads and writes, kept on the
// graph version node. A database written by a newer model is refused
// rather than misread.
const formatVersion = 1

// versionID identifies the one graph version node.
const versionID = "meshq"

// batchSize is how many devices one UNWIND statement carries: large enough
// that round trips do not dominate, small enough that one statement's
// parameters stay a few megabytes.
const batchSize = 250

// Options configure Open.
type Options struct {
	// URI is bolt://, bolt+s://, bolt+ssc://, neo4j://, neo4j+s:// or
	// neo4j+ssc://.
	URI string
	// User and Password authenticate with basic auth; an empty User means
	// no authentication (a server with auth disabled).
	User     string
	Password string
	// Database defaults to "neo4j".
	Database string
	// Tracer, when not nil, gives every operation and every statement
	// under it a span.
	Tracer trace.Tracer
	// CACertFile is a PEM file of the certificates that sign the server's
	// (a private CA) for bolt+s:// and neo4j+s://; empty trusts the
	// system's roots.
	CACertFile string
}

// DefaultPollInterval is how often Watch reads the graph version by
// default: Neo4j has no change notifications, so a version poll is how
// replicas without Redis see each other's ingests.
const DefaultPollInterval = time.Second

// Schemes are the URI schemes Open accepts.
var Schemes = []string{"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"}

// ValidateURI checks that uri is one Open can use; the error never
// repeats the URI, which may carry credentials.
func ValidateURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return errors.New("is not a URI (want bolt://host:7687, bolt+s:// or neo4j://)")
	}
	if !slices.Contains(Schemes, u.Scheme) {
		return fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(Schemes, ", "))
	}
	if u.Host == "" {
		return errors.New("names no host")
	}
	if u.User != nil {
		return errors.New("carries credentials: set NEO4J_USER and NEO4J_PASSWORD instead")
	}
	return nil
}

// Store is the Neo4j store.
type Store struct {
	driver neo4j.DriverWithContext
	db     string
	tr     trace.Tracer
	// PollInterval is how often Watch reads the version.
	PollInterval time.Duration
}

// TLS reports whether uri's scheme encrypts the connection (+s verifies
// the server's certificate, +ssc accepts a self-signed one).
func TLS(uri string) bool { return strings.Contains(scheme(uri), "+s") }

// VerifiesCertificates reports whether uri's scheme checks the server's
// certificate against trusted roots (bolt+s://, neo4j+s://).
func VerifiesCertificates(uri string) bool { return strings.HasSuffix(scheme(uri), "+s") }

func scheme(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Scheme
}

// Open connects, checks the model's format and creates the constraints
// and indexes the model needs (idempotent). It fails when the server
// cannot be reached: the daemon then exits and is restarted, rather than
// serve an empty graph.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if err := ValidateURI(opt.URI); err != nil {
		return nil, fmt.Errorf("opening the Neo4j store: NEO4J_URI %w", err)
	}
	auth := neo4j.NoAuth()
	if opt.User != "" {
		auth = neo4j.BasicAuth(opt.User, opt.Password, "")
	}
	var roots *x509.CertPool
	if opt.CACertFile != "" {
		if !VerifiesCertificates(opt.URI) {
			return nil, errors.New("opening the Neo4j store: NEO4J_CA_CERT is set but NEO4J_URI's scheme does not verify certificates; use bolt+s:// or neo4j+s://")
		}
		pem, err := os.ReadFile(opt.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("opening the Neo4j store: NEO4J_CA_CERT: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("opening the Neo4j store: NEO4J_CA_CERT %s holds no PEM certificate", opt.CACertFile)
		}
	}
	drv, err := neo4j.NewDriverWithContext(opt.URI, auth, func(c *config.Config) {
		if roots != nil {
			c.TlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
		// A store that is down must fail a write in seconds (503), not
		// after the driver's default half minute of retries.
		c.MaxTransactionRetryTime = 5 * time.Second
		c.ConnectionAcquisitionTimeout = 5 * time.Second
		c.SocketConnectTimeout = 2 * time.Second
		c.MaxConnectionPoolSize = 16
	})
	if err != nil {
		return nil, fmt.Errorf("opening the Neo4j store: %w", err)
	}
	db := opt.Database
	if db == "" {
		db = "neo4j"
	}
	s := &Store{driver: drv, db: db, tr: opt.Tracer, PollInterval: DefaultPollInterval}
	if err := s.init(ctx); err != nil {
		drv.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("opening the Neo4j store: %w", err)
	}
	return s, nil
}

// schema is the model's constraints and indexes. Uniqueness constraints
// exist in every edition; each also backs the lookups ingest makes.
var schema = []string{
	`CREATE CONSTRAINT meshq_graph_version IF NOT EXISTS FOR (v:GraphVersion) REQUIRE v.id IS UNIQUE`,
	`CREATE CONSTRAINT meshq_device_hostname IF NOT EXISTS FOR (d:Device) REQUIRE d.hostname IS UNIQUE`,
	`CREATE CONSTRAINT meshq_ip_address IF NOT EXISTS FOR (i:IP) REQUIRE i.address IS UNIQUE`,
	`CREATE CONSTRAINT meshq_subnet_prefix IF NOT EXISTS FOR (s:Subnet) REQUIRE s.prefix IS UNIQUE`,
	`CREATE CONSTRAINT meshq_vlan_id IF NOT EXISTS FOR (v:VLAN) REQUIRE v.id IS UNIQUE`,
	`CREATE CONSTRAINT meshq_endpoint_mac IF NOT EXISTS FOR (e:Endpoint) REQUIRE e.mac IS UNIQUE`,
	`CREATE INDEX meshq_interface_device_name IF NOT EXISTS FOR (i:Interface) ON (i.device, i.name)`,
	// The composite index serves lookups by device alone: a second index
	// on device was one more entry per interface for every ingest to write.
	`DROP INDEX meshq_interface_device IF EXISTS`,
	`CREATE INDEX meshq_interface_neighbor IF NOT EXISTS FOR (i:Interface) ON (i.neighbor_hostname)`,
	`CREATE INDEX meshq_interface_mac IF NOT EXISTS FOR (i:Interface) ON (i.mac)`,
	`CREATE INDEX meshq_route_prefix IF NOT EXISTS FOR (r:Route) ON (r.prefix)`,
	`CREATE INDEX meshq_bgp_peer_ip IF NOT EXISTS FOR (p:BGPPeer) ON (p.peer_ip)`,
	`CREATE INDEX meshq_rule_device IF NOT EXISTS FOR (r:FirewallRule) ON (r.device)`,
	`CREATE INDEX meshq_device_site IF NOT EXISTS FOR (d:Device) ON (d.site)`,
	`CREATE INDEX meshq_arp_device IF NOT EXISTS FOR ()-[r:HAS_IP]-() ON (r.device)`,
}

func (s *Store) init(ctx context.Context) error {
	sess := s.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: s.db, AccessMode: neo4j.AccessModeWrite})
	defer sess.Close(context.WithoutCancel(ctx))
	// Schema statements run one per auto-commit transaction, as Neo4j
	// requires.
	for _, stmt := range schema {
		res, err := sess.Run(ctx, stmt, nil)
		if err == nil {
			_, err = res.Consume(ctx)
		}
		if err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	}
	// New indexes fill in the background; the first ingest should use
	// them.
	if res, err := sess.Run(ctx, `CALL db.awaitIndexes(300)`, nil); err != nil {
		return fmt.Errorf("waiting for the schema's indexes: %w", err)
	} else if _, err := res.Consume(ctx); err != nil {
		return fmt.Errorf("waiting for the schema's indexes: %w", err)
	}
	format, err := neo4j.ExecuteWrite(ctx, sess, func(tx neo4j.ManagedTransaction) (int64, error) {
		rec, err := single(ctx, tx, `MERGE (v:GraphVersion {id: $id})
			ON CREATE SET v.version = 0, v.format = $format
			RETURN v.format`, map[string]any{"id": versionID, "format": formatVersion})
		if err != nil {
			return 0, err
		}
		f, _ := rec.Values[0].(int64)
		return f, nil
	})
	if err != nil {
		return fmt.Errorf("reading the graph version node: %w", err)
	}
	if format > formatVersion {
		return fmt.Errorf("the database's model format %d is newer than this binary reads (%d)", format, formatVersion)
	}
	return nil
}

// Close closes the driver's connections.
func (s *Store) Close() error { return s.driver.Close(context.Background()) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.version(ctx)
	return err
}

// Version returns the graph version without loading devices.
func (s *Store) Version(ctx context.Context) (_ uint64, err error) {
	ctx, span := s.span(ctx, "Version", -1)
	defer func() { tracing.End(span, err) }()
	return s.version(ctx)
}

func (s *Store) version(ctx context.Context) (uint64, error) {
	sess := s.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(context.WithoutCancel(ctx))
	return neo4j.ExecuteRead(ctx, sess, traced(s, func(tx neo4j.ManagedTransaction) (uint64, error) {
		return readVersion(ctx, tx)
	}))
}

func readVersion(ctx context.Context, tx neo4j.ManagedTransaction) (uint64, error) {
	rec, err := single(ctx, tx, `MATCH (v:GraphVersion {id: $id}) RETURN v.version`, map[string]any{"id": versionID})
	if err != nil {
		return 0, err
	}
	v, _ := rec.Values[0].(int64)
	return uint64(v), nil
}

func (s *Store) session(ctx context.Context, mode neo4j.AccessMode) neo4j.SessionWithContext {
	return s.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: s.db, AccessMode: mode})
}

// single runs a statement that returns exactly one record.
func single(ctx context.Context, tx neo4j.ManagedTransaction, cypher string, params map[string]any) (*neo4j.Record, error) {
	res, err := tx.Run(ctx, cypher, params)
	if err != nil {
		return nil, err
	}
	return res.Single(ctx)
}

// execute runs a statement and discards its records.
func execute(ctx context.Context, tx neo4j.ManagedTransaction, cypher string, params map[string]any) error {
	res, err := tx.Run(ctx, cypher, params)
	if err != nil {
		return err
	}
	_, err = res.Consume(ctx)
	return err
}

// Load returns the version and every device, sorted by hostname, with its
// metadata, as they were ingested.
func (s *Store) Load(ctx context.Context) (_ uint64, _ []facts.Device, err error) {
	ctx, span := s.span(ctx, "Load", -1)
	defer func() { tracing.End(span, err) }()
	sess := s.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(context.WithoutCancel(ctx))
	type snapshot struct {
		version uint64
		raw     [][2]string
	}
	// Reads see each committed transaction whole but not one snapshot
	// across statements: the version is read on both sides of the devices
	// and the read is repeated when a write committed in between.
	for range 10 {
		snap, err := neo4j.ExecuteRead(ctx, sess, traced(s, func(tx neo4j.ManagedTransaction) (snapshot, error) {
			before, err := readVersion(ctx, tx)
			if err != nil {
				return snapshot{}, err
			}
			res, err := tx.Run(ctx, `MATCH (d:Device) RETURN d.facts, d.metadata ORDER BY d.hostname`, nil)
			if err != nil {
				return snapshot{}, err
			}
			var raw [][2]string
			for res.Next(ctx) {
				vals := res.Record().Values
				f, _ := vals[0].(string)
				m, _ := vals[1].(string)
				raw = append(raw, [2]string{f, m})
			}
			if err := res.Err(); err != nil {
				return snapshot{}, err
			}
			after, err := readVersion(ctx, tx)
			if err != nil {
				return snapshot{}, err
			}
			if after != before {
				return snapshot{version: 0, raw: nil}, errTorn
			}
			return snapshot{version: after, raw: raw}, nil
		}))
		if errors.Is(err, errTorn) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("loading the Neo4j store: %w", err)
		}
		devices := make([]facts.Device, len(snap.raw))
		for i, r := range snap.raw {
			if err := json.Unmarshal([]byte(r[0]), &devices[i]); err != nil {
				return 0, nil, fmt.Errorf("loading the Neo4j store: decoding device %d's facts: %w", i, err)
			}
			if r[1] != "" {
				if err := json.Unmarshal([]byte(r[1]), &devices[i].Metadata); err != nil {
					return 0, nil, fmt.Errorf("loading the Neo4j store: decoding metadata of %q: %w", devices[i].Hostname, err)
				}
			}
		}
		span.SetAttributes(tracing.DeviceCount.Int(len(devices)))
		return snap.version, devices, nil
	}
	return 0, nil, errors.New("loading the Neo4j store: the graph kept changing while it was read")
}

var errTorn = errors.New("graph changed during the read")

// storedDigests returns the facts digest of each of hosts the store has
// (none for a device written before digests were kept: it is rewritten).
func storedDigests(ctx context.Context, tx neo4j.ManagedTransaction, hosts []string) (map[string]string, error) {
	res, err := tx.Run(ctx, `UNWIND $hosts AS h
		MATCH (d:Device {hostname: h}) USING INDEX d:Device(hostname)
		WHERE d.facts_digest IS NOT NULL
		RETURN h, d.facts_digest`, map[string]any{"hosts": hosts})
	if err != nil {
		return nil, fmt.Errorf("reading the stored devices' digests: %w", err)
	}
	out := make(map[string]string, len(hosts))
	for res.Next(ctx) {
		vals := res.Record().Values
		h, _ := vals[0].(string)
		d, _ := vals[1].(string)
		out[h] = d
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("reading the stored devices' digests: %w", err)
	}
	return out, nil
}

// bumpVersion increments the graph version; as the first write of a
// transaction it also takes the version node's lock, so writes from every
// replica serialize.
func bumpVersion(ctx context.Context, tx neo4j.ManagedTransaction) (uint64, error) {
	rec, err := single(ctx, tx, `MATCH (v:GraphVersion {id: $id})
		SET v.version = v.version + 1, v.updated_at = datetime()
		RETURN v.version`, map[string]any{"id": versionID})
	if err != nil {
		return 0, err
	}
	v, _ := rec.Values[0].(int64)
	return uint64(v), nil
}

// failAfterBatch, set by tests only, fails an ingest after a batch is
// written, to show that nothing of it stays.
var failAfterBatch func() error

// Ingest writes devices in mode (store.ModeMerge or store.ModeReplace) in
// one transaction and returns the new version: on any error nothing
// changed. A device given with metadata replaces the stored metadata; a
// device given without keeps what the store has.
func (s *Store) Ingest(ctx context.Context, mode string, devices []facts.Device) (_ uint64, err error) {
	ctx, span := s.span(ctx, "Ingest", len(devices))
	defer func() { tracing.End(span, err) }()
	if mode != store.ModeMerge && mode != store.ModeReplace {
		return 0, fmt.Errorf("ingest: mode %q is not %s or %s", mode, store.ModeMerge, store.ModeReplace)
	}
	seen := make(map[string]int, len(devices))
	for i := range devices {
		h := devices[i].Hostname
		if h == "" {
			return 0, fmt.Errorf("ingest: devices[%d] has no hostname", i)
		}
		if _, dup := seen[h]; dup {
			return 0, fmt.Errorf("ingest: hostname %q given twice", h)
		}
		seen[h] = i
	}
	enc := make([]encoded, len(devices))
	hosts := make([]string, len(devices))
	for i := range devices {
		e, err := encode(&devices[i])
		if err != nil {
			return 0, fmt.Errorf("ingest: %w", err)
		}
		enc[i], hosts[i] = e, devices[i].Hostname
	}

	sess := s.session(ctx, neo4j.AccessModeWrite)
	defer sess.Close(context.WithoutCancel(ctx))
	ver, err := neo4j.ExecuteWrite(ctx, sess, notRetriedForMemory(traced(s, func(tx neo4j.ManagedTransaction) (uint64, error) {
		v, err := bumpVersion(ctx, tx)
		if err != nil {
			return 0, err
		}
		if mode == store.ModeReplace {
			if err := removeAbsent(ctx, tx, hosts); err != nil {
				return 0, err
			}
		}
		// Read under the version node's lock: no other ingest changes
		// the devices between this read and the commit.
		stored, err := storedDigests(ctx, tx, hosts)
		if err != nil {
			return 0, err
		}
		// A device whose facts are what the store holds keeps its nodes
		// (re-collecting a network changes few devices, and rewriting an
		// unchanged one costs as much as writing a new one); given
		// metadata is still set.
		var changed []*facts.Device
		var changedEnc []encoded
		var metadataOnly []any
		for i := range devices {
			if stored[hosts[i]] != enc[i].digest {
				changed, changedEnc = append(changed, &devices[i]), append(changedEnc, enc[i])
			} else if enc[i].metadata != nil {
				metadataOnly = append(metadataOnly, map[string]any{"hostname": hosts[i], "metadata": enc[i].metadata})
			}
		}
		span.SetAttributes(tracing.ChangedDeviceCount.Int(len(changed)))
		if len(metadataOnly) > 0 {
			if err := execute(ctx, tx, `UNWIND $rows AS r
				MATCH (d:Device {hostname: r.hostname}) USING INDEX d:Device(hostname)
				SET d.metadata = r.metadata`, map[string]any{"rows": metadataOnly}); err != nil {
				return 0, fmt.Errorf("writing metadata: %w", err)
			}
		}
		changedHosts := make([]string, len(changed))
		for lo := 0; lo < len(changed); lo += batchSize {
			hi := min(lo+batchSize, len(changed))
			b := newBatch(changed[lo:hi], changedEnc[lo:hi])
			copy(changedHosts[lo:], b.hosts)
			if err := b.write(ctx, tx); err != nil {
				return 0, err
			}
			if failAfterBatch != nil {
				if err := failAfterBatch(); err != nil {
					return 0, err
				}
			}
		}
		// Links need both ends' interfaces, so they are made once every
		// batch is in; an unchanged device's links to unchanged
		// neighbours are still there.
		for lo := 0; lo < len(changedHosts); lo += batchSize {
			if err := execute(ctx, tx, cypherLinks, map[string]any{"hosts": changedHosts[lo:min(lo+batchSize, len(changedHosts))]}); err != nil {
				return 0, fmt.Errorf("linking interfaces: %w", err)
			}
		}
		if err := collectOrphans(ctx, tx); err != nil {
			return 0, err
		}
		return v, nil
	})))
	if err != nil {
		if memoryRefused(err) {
			// One ingest is one transaction; the server's limit on
			// transaction memory is what a large replace meets first.
			return 0, fmt.Errorf("ingest of %d devices into the Neo4j store: the server refused the memory the transaction needs (raise the server's db.memory.transaction.max, dbms.memory.transaction.total.max or heap, or send the network in parts with mode merge): %w", len(devices), err)
		}
		return 0, fmt.Errorf("ingest into the Neo4j store: %w", err)
	}
	return ver, nil
}

// UpdateMetadata merges patch into the device's metadata (a nil value
// removes the key), bumps the version and returns the device as stored. It
// returns an error wrapping store.ErrNotFound when there is no such device.
func (s *Store) UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (_ uint64, _ facts.Device, err error) {
	ctx, span := s.span(ctx, "UpdateMetadata", 1)
	defer func() { tracing.End(span, err) }()
	sess := s.session(ctx, neo4j.AccessModeWrite)
	defer sess.Close(context.WithoutCancel(ctx))
	type result struct {
		version uint64
		dev     facts.Device
	}
	r, err := neo4j.ExecuteWrite(ctx, sess, traced(s, func(tx neo4j.ManagedTransaction) (result, error) {
		v, err := bumpVersion(ctx, tx)
		if err != nil {
			return result{}, err
		}
		res, err := tx.Run(ctx, `MATCH (d:Device {hostname: $h}) RETURN d.facts, d.metadata`, map[string]any{"h": hostname})
		if err != nil {
			return result{}, err
		}
		recs, err := res.Collect(ctx)
		if err != nil {
			return result{}, err
		}
		if len(recs) == 0 {
			return result{}, fmt.Errorf("%w: %q", store.ErrNotFound, hostname)
		}
		var dev facts.Device
		f, _ := recs[0].Values[0].(string)
		if err := json.Unmarshal([]byte(f), &dev); err != nil {
			return result{}, fmt.Errorf("decoding device %q: %w", hostname, err)
		}
		var old map[string]any
		if m, _ := recs[0].Values[1].(string); m != "" {
			if err := json.Unmarshal([]byte(m), &old); err != nil {
				return result{}, fmt.Errorf("decoding metadata of %q: %w", hostname, err)
			}
		}
		var stored any // nil removes the property
		if merged := store.MergeMetadata(old, patch); merged != nil {
			b, err := json.Marshal(merged)
			if err != nil {
				return result{}, fmt.Errorf("encoding metadata: %w", err)
			}
			stored = string(b)
			// As it reads back after a restart (JSON numbers are float64).
			if err := json.Unmarshal(b, &dev.Metadata); err != nil {
				return result{}, fmt.Errorf("encoding metadata: %w", err)
			}
		}
		if err := execute(ctx, tx, `MATCH (d:Device {hostname: $h}) SET d.metadata = $m`, map[string]any{"h": hostname, "m": stored}); err != nil {
			return result{}, err
		}
		return result{version: v, dev: dev}, nil
	}))
	if err != nil {
		return 0, facts.Device{}, fmt.Errorf("updating metadata in the Neo4j store: %w", err)
	}
	return r.version, r.dev, nil
}

// memoryRefusal is the server's refusal of a transaction's memory, kept
// as text: the driver retries any error that unwraps to a transient
// Neo4jError, and the same transaction would only be refused again.
type memoryRefusal struct{ cause string }

func (e *memoryRefusal) Error() string { return e.cause }

func notRetriedForMemory(work neo4j.ManagedTransactionWorkT[uint64]) neo4j.ManagedTransactionWorkT[uint64] {
	return func(tx neo4j.ManagedTransaction) (uint64, error) {
		v, err := work(tx)
		if err != nil && memoryRefused(err) {
			return 0, &memoryRefusal{cause: err.Error()}
		}
		return v, err
	}
}

// memoryRefused reports whether the server refused a transaction for the
// memory it needed, during its statements or its commit (which the driver
// retries and then reports in a TransactionExecutionLimit that does not
// unwrap, so its errors are looked at one by one).
func memoryRefused(err error) bool {
	const code = "Neo.TransientError.General.MemoryPoolOutOfMemoryError"
	var ne *neo4j.Neo4jError
	var mr *memoryRefusal
	if errors.As(err, &mr) || errors.As(err, &ne) && ne.Code == code {
		return true
	}
	var limit *neo4j.TransactionExecutionLimit
	if errors.As(err, &limit) {
		for _, e := range limit.Errors {
			if errors.As(e, &ne) && ne.Code == code {
				return true
			}
		}
	}
	return false
}
