package main

import (
	"fmt"
	"unsafe"
)

// b2s views b as a string without copying; only for transient use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
