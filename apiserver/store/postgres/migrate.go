package postgres

import (
	"context"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Migrations are migrations/NNNN_name.sql, applied in order, each in its
// own transaction, and recorded in meshq.schema_migrations.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %d is missing", i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this binary reads and writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// SchemaError is a database whose schema this binary cannot use.
type SchemaError struct {
	Database, Binary int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("the database schema meshq is at version %d, newer than this apiserver knows (%d): upgrade the apiserver (or restore the database it used)", e.Database, e.Binary)
}

// migrationLock is the advisory lock key (the text "meshq.mi" as an
// integer) that keeps two apiservers starting at once from migrating
// together.
const migrationLock int64 = 0x6d65736871_2e6d69

// Migrate applies the migrations the database lacks and returns the
// schema version before and after. A database at a newer version than the
// binary's is refused with a *SchemaError and left untouched.
func (s *Store) Migrate(ctx context.Context) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, classify(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, 0, classify(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS meshq;
CREATE TABLE IF NOT EXISTS meshq.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return 0, 0, fmt.Errorf("creating schema meshq: %w", classify(err))
	}
	var cur int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM meshq.schema_migrations").Scan(&cur); err != nil {
		return 0, 0, classify(err)
	}
	from = cur
	if cur > len(ms) {
		return cur, cur, &SchemaError{Database: cur, Binary: len(ms)}
	}
	for _, m := range ms[cur:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO meshq.schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return cur, cur, fmt.Errorf("applying migration %d (%s): %w", m.version, m.name, classify(err))
		}
		cur = m.version
	}
	s.migrateMu.Lock()
	s.migrated = true
	s.migrateMu.Unlock()
	return from, cur, nil
}

// ensureMigrated migrates once per store.
func (s *Store) ensureMigrated(ctx context.Context) error {
	s.migrateMu.Lock()
	done := s.migrated
	s.migrateMu.Unlock()
	if done {
		return nil
	}
	_, _, err := s.Migrate(ctx)
	return err
}
