package obs

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/meshoptixiq/mesh/common/edition"

	"github.com/prometheus/client_golang/prometheus"
)

// Build describes the running binary, from the build information the Go
// toolchain embeds: the module version ("(devel)" for a build from a
// checkout) and the VCS revision it was built from.
type Build struct {
	Version   string
	Revision  string // "unknown" when built without VCS information
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
}

// ReadBuild reads the running binary's build information.
func ReadBuild() Build {
	b := Build{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = info.GoVersion
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one line `DAEMON --version` prints after the daemon's name.
func (b Build) String() string {
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if b.Modified {
		rev += "-dirty"
	}
	out := fmt.Sprintf("%s (revision %s, %s)", b.Version, rev, b.GoVersion)
	if edition.Standard {
		out += ", standard build: no secrets providers, OIDC, Splunk/Elasticsearch/OpenSearch audit sinks, APM export or SOAR"
	}
	return out
}

// IsVersionFlag reports whether args ask for the version: `version`,
// `--version` or `-version`, alone.
func IsVersionFlag(args []string) bool {
	return len(args) == 1 && strings.TrimLeft(args[0], "-") == "version"
}

// buildInfoCollector is meshq_build_info{daemon, version, revision,
// goversion} 1, the same name in every daemon.
func buildInfoCollector(daemon string) prometheus.Collector {
	b := ReadBuild()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshq_build_info",
		Help: "Always 1; the labels say which daemon runs which build.",
		ConstLabels: prometheus.Labels{
			"daemon": daemon, "version": b.Version, "revision": b.Revision, "goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// IsHelpFlag reports whether args ask for help: "help", "-h" or "--help".
func IsHelpFlag(args []string) bool {
	return len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help")
}
