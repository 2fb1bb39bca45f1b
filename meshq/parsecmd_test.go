package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// writeCache caches the recorded EOS lab router (meshq/parse/testdata) as
// collect would, plus a device whose login failed.
func writeCache(t *testing.T, broken bool) string {
	t.Helper()
	dir := t.TempDir()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	d := rawcache.Device{Hostname: "r1", Host: "192.0.2.1", DeviceType: "arista_eos", StartedAt: at, FinishedAt: at, Attempts: 1}
	outputs := map[platform.Kind][]byte{}
	p, _ := platform.Lookup("arista_eos")
	for _, kind := range []platform.Kind{platform.KindVersion, platform.KindInterfaces, platform.KindRoutes} {
		data, err := os.ReadFile(filepath.Join("parse", "testdata", "arista_eos", "lab-r1", string(kind)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := p.Command(kind)
		d.Outputs = append(d.Outputs, rawcache.Output{Kind: kind, Command: c.Command, Format: c.Format, CollectedAt: at})
		outputs[kind] = data
	}
	if err := rawcache.Write(dir, d, outputs); err != nil {
		t.Fatal(err)
	}
	if broken {
		down := rawcache.Device{Hostname: "down1", Host: "192.0.2.9", DeviceType: "arista_eos", StartedAt: at, FinishedAt: at, Attempts: 3,
			Error: &rawcache.Failure{Class: rawcache.ClassTimeout, Message: "no answer in 30s"}}
		if err := rawcache.Write(dir, down, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestParseThenIngest runs "meshq parse --cache DIR | meshq ingest -":
// the document parse prints is what ingest uploads, and the fake server
// checks it with the apiserver's own parser.
func TestParseThenIngest(t *testing.T) {
	var got *facts.Document
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		doc, err := facts.Parse(b)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got = doc
		json.NewEncoder(w).Encode(map[string]any{"mode": "merge", "graph_version": 2, "ingested_devices": len(doc.Devices), "graph": map[string]any{"devices": 1}})
	}))
	defer srv.Close()
	c := loggedIn(t, srv.URL)
	dir := writeCache(t, false)
	p := c.run("", "parse", "--cache", dir)
	if p.code != 0 || !strings.Contains(p.errOut, "r1 (arista_eos): 3 outputs parsed") ||
		!strings.Contains(p.errOut, "parse: 1 of 1 device in the document; 0 outputs not parsed, 0 entries skipped") {
		t.Fatalf("parse = %d\nstderr: %s", p.code, p.errOut)
	}
	r := c.run(p.out, "ingest", "-")
	if r.code != 0 || !strings.Contains(r.out, "1 device ingested (merge), graph version 2") {
		t.Fatalf("ingest - = %d %s %s", r.code, r.out, r.errOut)
	}
	if got == nil || len(got.Devices) != 1 || got.Devices[0].Hostname != "r1" || len(got.Devices[0].Interfaces) != 3 || len(got.Devices[0].Routes) != 4 {
		t.Errorf("server received %+v", got)
	}
}

func TestParseExitStatus(t *testing.T) {
	c := newCLI(t, "")
	dir := writeCache(t, true)
	out := filepath.Join(t.TempDir(), "facts.json")
	r := c.run("", "parse", "--cache", dir, "-o", out)
	if r.code != exitPartial || r.out != "" || !strings.Contains(r.errOut, "down1 (arista_eos): not in the document: timeout: no answer in 30s") {
		t.Errorf("parse with a failed device = %d %q %s", r.code, r.out, r.errOut)
	}
	if v := c.run("", "validate", out); v.code != 0 || !strings.Contains(v.out, "valid, 1 device") {
		t.Errorf("validate %s = %d %s %s", out, v.code, v.out, v.errOut)
	}
	// Only the failed device: no document, exit 1.
	only := t.TempDir()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if err := rawcache.Write(only, rawcache.Device{Hostname: "down1", DeviceType: "arista_eos", StartedAt: at, FinishedAt: at,
		Error: &rawcache.Failure{Class: rawcache.ClassAuth, Message: "refused"}}, nil); err != nil {
		t.Fatal(err)
	}
	if r := c.run("", "parse", "--cache", only); r.code != 1 || r.out != "" || !strings.Contains(r.errOut, "nothing written") {
		t.Errorf("parse of a cache with no facts = %d %q %s", r.code, r.out, r.errOut)
	}
	if r := c.run("", "parse"); r.code != 2 || !strings.Contains(r.errOut, "--cache DIR is required") {
		t.Errorf("parse without --cache = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "parse", "--cache", filepath.Join(only, "missing")); r.code != 1 || !strings.Contains(r.errOut, "reading cache") {
		t.Errorf("parse of a missing cache = %d %s", r.code, r.errOut)
	}
}

// The image's templates are the version make installs for the tests, so
// that the CronJob parses as the tests do.
func TestImageTemplatesVersionIsTheTested(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mk := regexp.MustCompile(`(?m)^NTC_TEMPLATES := (\S+)$`).FindStringSubmatch(read("Makefile"))
	img := regexp.MustCompile(`(?m)^ARG NTC_TEMPLATES=(\S+)$`).FindStringSubmatch(read("Dockerfile.meshq"))
	if mk == nil || img == nil || mk[1] != img[1] {
		t.Errorf("ntc-templates: Makefile %v, Dockerfile.meshq %v; want one version in both", mk, img)
	}
}
