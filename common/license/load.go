package license

import (
	"os"
	"path/filepath"
	"time"

	"github.com/meshoptixiq/mesh/common/envconf"
)

// Load reads the licence key from MESHOPTIXIQ_LICENSE_KEY or
// home/.meshoptixiq/license.key (its first non-empty line) and verifies it
// against MESHQ_LICENSE_PUBLIC_KEY or the built-in key, at time now. No
// key: every feature is on. A key that does not verify is reported on r,
// naming where it came from, and stops the start.
func Load(r *envconf.Reader, home string, now time.Time) *License {
	pubText := r.String("MESHQ_LICENSE_PUBLIC_KEY", BuiltinPublicKey)
	key, _ := r.Lookup("MESHOPTIXIQ_LICENSE_KEY")
	source := "MESHOPTIXIQ_LICENSE_KEY"
	if key == "" && home != "" {
		path := filepath.Join(home, ".meshoptixiq", "license.key")
		if b, err := os.ReadFile(path); err == nil {
			key, source = FirstLine(string(b)), path
		}
	}
	if key == "" {
		return None()
	}
	pub, err := ParsePublicKey(pubText)
	if err != nil {
		r.Errorf("MESHQ_LICENSE_PUBLIC_KEY", "%v", err)
		return None()
	}
	l, err := Parse(key, pub, now)
	if err != nil {
		r.Errorf(source, "the licence key is refused: %v", err)
		return None()
	}
	return l
}
