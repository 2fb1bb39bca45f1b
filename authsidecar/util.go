package main

import "unsafe"

// b2s views b as a string without copying; only for transient use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
