package main

import "unsafe"

// b2s views b as a string without copying; only for transient use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// s2b views s as bytes without copying, for fasthttp calls that only read
// their argument.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
