package obs

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestIsVersionFlag(t *testing.T) {
	for args, want := range map[string]bool{"version": true, "--version": true, "-version": true, "versions": false, "": false, "version x": false} {
		if got := IsVersionFlag(strings.Fields(args)); got != want {
			t.Errorf("IsVersionFlag(%q) = %v, want %v", args, got, want)
		}
	}
}

func TestRegistryHasBuildInfo(t *testing.T) {
	reg := NewRegistry("testd")
	b := ReadBuild()
	want := `# HELP meshq_build_info Always 1; the labels say which daemon runs which build.
# TYPE meshq_build_info gauge
meshq_build_info{daemon="testd",goversion="` + b.GoVersion + `",revision="` + b.Revision + `",version="` + b.Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshq_build_info"); err != nil {
		t.Error(err)
	}
	if b.GoVersion == "unknown" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Errorf("ReadBuild().GoVersion = %q, want the toolchain's version", b.GoVersion)
	}
}

func TestBuildString(t *testing.T) {
	b := Build{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.8"}
	if got, want := b.String(), "v1.2.3 (revision 0123456789ab-dirty, go1.26.8)"; got != want {
		t.Errorf("Build.String() = %q, want %q", got, want)
	}
}
