//go:build !standard

package edition

const name = "enterprise"
