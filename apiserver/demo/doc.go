// Package demo generates a seeded, deterministic campus + data-centre network
// as a meshq.facts/v1 document: the demo network `make run` loads and the
// 1k/10k-device networks the benchmarks measure.
package demo
