package parse

// firewallFormat is one firewall configuration form parse recognises by
// its content, whatever device type the inventory gave: a PAN-OS device
// listed as a Linux host still gives PAN-OS XML.
type firewallFormat struct {
	name string
	// detect reports whether data is in this form. It must be cheap and
	// must not match another format's output.
	detect func(data []byte) bool
	parse  parseFunc
}

// firewallFormats lists the recognised forms; each platform's file adds
// its own from init.
var firewallFormats []firewallFormat

// detectFirewall picks the parser of a firewall output by its content.
func detectFirewall(data []byte) (parseFunc, bool) {
	for _, f := range firewallFormats {
		if f.detect(data) {
			return f.parse, true
		}
	}
	return nil, false
}
