package rawcache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/meshq/platform"
)

func TestWriteReplacesTheWholeDevice(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	first := Device{Hostname: "leaf1", Host: "192.0.2.1", DeviceType: "arista_eos", StartedAt: at, FinishedAt: at,
		Outputs: []Output{
			{Kind: platform.KindVersion, Command: "show version | json", Format: platform.FormatJSON, CollectedAt: at},
			{Kind: platform.KindARP, Command: "show ip arp vrf all | json", Format: platform.FormatJSON, CollectedAt: at},
		}}
	if err := Write(dir, first, map[platform.Kind][]byte{platform.KindVersion: []byte(`{"v":1}`), platform.KindARP: []byte(`{"arp":1}`)}); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Outputs = []Output{
		{Kind: platform.KindVersion, Command: "show version | json", Format: platform.FormatJSON, CollectedAt: at.Add(time.Hour)},
		{Kind: platform.KindARP, Command: "show ip arp vrf all | json", Format: platform.FormatJSON, CollectedAt: at.Add(time.Hour),
			Error: &Failure{Class: ClassUnknownCommand, Message: "% Invalid input"}},
	}
	if err := Write(dir, second, map[platform.Kind][]byte{platform.KindVersion: []byte(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	devs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Fatalf("List = %d devices, want 1", len(devs))
	}
	got, _, err := Load(dir, devs[0], platform.KindVersion)
	if err != nil || string(got) != `{"v":2}` {
		t.Errorf("version = %q, %v; want the second run's", got, err)
	}
	_, _, err = Load(dir, devs[0], platform.KindARP)
	var f *Failure
	if !errors.As(err, &f) || f.Class != ClassUnknownCommand {
		t.Errorf("arp error = %v, want the unknown_command failure", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "leaf1", "arp.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the first run's arp.json survived the second run: %v", err)
	}
	if _, _, err := Load(dir, devs[0], platform.KindBGP); err == nil {
		t.Error("Load of a kind never collected gave no error")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"leaf1"}, names); diff != "" {
		t.Errorf("cache directory holds leftovers (-want +got):\n%s", diff)
	}
}

func TestWriteRefusesUnsafeHostnamesAndMissingOutput(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "../etc", ".hidden", "a/b"} {
		if err := Write(dir, Device{Hostname: name}, nil); err == nil {
			t.Errorf("Write(hostname %q) = nil, want an error", name)
		}
	}
	d := Device{Hostname: "sw1", Outputs: []Output{{Kind: platform.KindVLANs, Format: platform.FormatText}}}
	if err := Write(dir, d, nil); err == nil {
		t.Error("Write without the output's bytes = nil, want an error")
	}
	if _, err := os.Stat(filepath.Join(dir, "sw1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Write left a device directory: %v", err)
	}
}

func TestReadChecksSchemaAndName(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sw1"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, meta := range []string{`{"schema":"other","hostname":"sw1"}`, `{"schema":"meshq.rawcache/v1","hostname":"sw2"}`, `{`} {
		if err := os.WriteFile(filepath.Join(dir, "sw1", "meta.json"), []byte(meta), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := List(dir); err == nil {
			t.Errorf("List with meta.json %s = nil error", meta)
		}
	}
}
