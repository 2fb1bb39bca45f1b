// Package sidebyside holds the benchmark that measures why every query is
// answered by the one in-memory engine rather than by the database: the
// same questions asked of the engine, as SQL on the PostgreSQL model and as
// Cypher on the Neo4j model, on the same network, with ingest and
// restart-to-ready of each store (make bench BENCH_STORES=1).
package sidebyside
