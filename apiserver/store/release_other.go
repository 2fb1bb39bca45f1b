//go:build !linux

package store

// releaseMapped is a no-op where /proc/self/maps does not exist.
func releaseMapped(string) {}
