//go:build standard

package secrets

var providers = map[string]provider{}
