package storetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/meshoptixiq/mesh/common/facts"
)

// ConcurrentIngests merges each devices of its own into every replica at
// once (device r<replica>-<n>) and checks that the ingests serialized:
// their graph versions are from+1 .. from+len(bases)*each, each once, so
// no ingest was lost or applied over another. It returns the last version.
func ConcurrentIngests(t *testing.T, bases []string, each int, from uint64) uint64 {
	t.Helper()
	versions := make(chan uint64, len(bases)*each)
	var wg sync.WaitGroup
	for r, base := range bases {
		wg.Go(func() {
			for i := range each {
				doc, _ := json.Marshal(facts.Document{Schema: facts.Schema,
					Devices: []facts.Device{{Hostname: fmt.Sprintf("r%d-%d", r, i), Vendor: "arista"}}})
				resp, err := http.Post(base+"/graph/ingest", "application/json", strings.NewReader(string(doc)))
				if err != nil {
					t.Errorf("concurrent ingest on replica %d: %v", r, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var res struct {
					Version uint64 `json:"graph_version"`
				}
				if json.Unmarshal(body, &res); resp.StatusCode != 200 {
					t.Errorf("concurrent ingest on replica %d = %d %s", r, resp.StatusCode, body)
					return
				}
				versions <- res.Version
			}
		})
	}
	wg.Wait()
	close(versions)
	var got []uint64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	n := uint64(len(bases) * each)
	for i, v := range got {
		if v != from+uint64(i)+1 || len(got) != int(n) {
			t.Fatalf("versions of the concurrent ingests = %v, want %d..%d, each once", got, from+1, from+n)
		}
	}
	return from + n
}
