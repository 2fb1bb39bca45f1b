// Package edition says which build this binary is: the default
// (enterprise) build has every feature; the standard build (go build
// -tags standard, the standard image) leaves the enterprise code out —
// secrets providers, OIDC, the Splunk/Elasticsearch/OpenSearch audit
// sinks, APM exporters and SOAR — and refuses, naming the setting, to
// start when one of them is configured.
package edition

import "fmt"

// Name is "standard" or "enterprise".
const Name = name

// Standard reports whether this is the standard build.
const Standard = name == "standard"

// Refuse is the error for an enterprise setting given to the standard
// build: variable names the setting, feature what it asks for.
func Refuse(variable, feature string) error {
	return fmt.Errorf("%s: %s", variable, Refusal(variable, feature))
}

// Refusal is Refuse's text without the variable in front, for
// configuration readers that put it there themselves.
func Refusal(variable, feature string) string {
	return fmt.Sprintf("%s is an enterprise feature, and this binary is the standard build (built with -tags standard), which leaves it out; unset %s or run the enterprise image", feature, variable)
}
