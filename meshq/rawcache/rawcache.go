// Package rawcache is the on-disk cache between `meshq collect` and
// `meshq parse`: the raw output of every command collected from a device,
// with when it was collected and whether it failed.
//
// Layout, one directory per device under the cache directory:
//
//	DIR/<hostname>/meta.json     what was run, when, and what failed (Device)
//	DIR/<hostname>/<kind>.<ext>  one command's raw output (ext: json, xml, txt)
//
// A device's directory is replaced as a whole when it is collected again,
// so parse never sees one run's interfaces beside another run's ARP table.
// Names starting with a dot are work in progress and are ignored.
package rawcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Schema identifies the meta.json format.
const Schema = "meshq.rawcache/v1"

const metaFile = "meta.json"

// Failure classes: why a device or a command gave no output.
const (
	ClassConnect        = "connect"         // TCP connect or SSH handshake failed
	ClassHostKey        = "host_key"        // the host key is unknown or changed
	ClassAuth           = "auth"            // the credentials were refused
	ClassTimeout        = "timeout"         // no answer within the device's timeout
	ClassDropped        = "dropped"         // the session ended under us
	ClassSetup          = "setup"           // paging-off or enable failed
	ClassUnknownCommand = "unknown_command" // the device rejected the command
	ClassOther          = "other"
)

// Failure says why something was not collected.
type Failure struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

func (f *Failure) Error() string { return f.Class + ": " + f.Message }

// Device is the meta.json of one device.
type Device struct {
	Schema     string    `json:"schema"`
	Hostname   string    `json:"hostname"`
	Host       string    `json:"host"`
	DeviceType string    `json:"device_type"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Attempts is how many sessions it took (retries after transient faults).
	Attempts int `json:"attempts"`
	// Error is set when the device as a whole failed (nothing, or only
	// part, was collected).
	Error   *Failure `json:"error,omitempty"`
	Outputs []Output `json:"outputs"`
}

// Output is one command's result.
type Output struct {
	Kind        platform.Kind   `json:"kind"`
	Command     string          `json:"command"`
	Format      platform.Format `json:"format"`
	File        string          `json:"file,omitempty"` // empty when Error is set
	CollectedAt time.Time       `json:"collected_at"`
	Error       *Failure        `json:"error,omitempty"`
}

// FileName is the cache file of a kind's output.
func FileName(kind platform.Kind, format platform.Format) string {
	ext := "txt"
	switch format {
	case platform.FormatJSON:
		ext = "json"
	case platform.FormatXML:
		ext = "xml"
	}
	return string(kind) + "." + ext
}

// CheckHostname refuses names that cannot be a directory of their own.
func CheckHostname(name string) error {
	switch {
	case name == "":
		return errors.New("hostname is empty")
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("hostname %q starts with a dot", name)
	case strings.ContainsAny(name, `/\`+"\x00"):
		return fmt.Errorf("hostname %q contains a path separator", name)
	}
	return nil
}

// Write stores one device's collection, replacing what the cache held for
// it. outputs holds the raw bytes of every Output without an Error, by kind.
func Write(dir string, d Device, outputs map[platform.Kind][]byte) error {
	if err := CheckHostname(d.Hostname); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	d.Schema = Schema
	work, err := os.MkdirTemp(dir, "."+d.Hostname+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work) // a no-op once renamed into place
	for i := range d.Outputs {
		o := &d.Outputs[i]
		if o.Error != nil {
			o.File = ""
			continue
		}
		data, ok := outputs[o.Kind]
		if !ok {
			return fmt.Errorf("device %s: no output given for %s", d.Hostname, o.Kind)
		}
		o.File = FileName(o.Kind, o.Format)
		if err := os.WriteFile(filepath.Join(work, o.File), data, 0o640); err != nil {
			return err
		}
	}
	meta, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, metaFile), append(meta, '\n'), 0o640); err != nil {
		return err
	}
	final := filepath.Join(dir, d.Hostname)
	old := ""
	if _, err := os.Stat(final); err == nil {
		old = filepath.Join(dir, "."+d.Hostname+".old-"+filepath.Base(work))
		if err := os.Rename(final, old); err != nil {
			return err
		}
	}
	if err := os.Rename(work, final); err != nil {
		if old != "" {
			_ = os.Rename(old, final) // put the previous collection back
		}
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// Read loads one device's meta.json.
func Read(dir, hostname string) (Device, error) {
	if err := CheckHostname(hostname); err != nil {
		return Device{}, err
	}
	path := filepath.Join(dir, hostname, metaFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Device{}, err
	}
	var d Device
	if err := json.Unmarshal(raw, &d); err != nil {
		return Device{}, fmt.Errorf("%s: %w", path, err)
	}
	if d.Schema != Schema {
		return Device{}, fmt.Errorf("%s: schema %q, want %q", path, d.Schema, Schema)
	}
	if d.Hostname != hostname {
		return Device{}, fmt.Errorf("%s: hostname %q does not match its directory", path, d.Hostname)
	}
	return d, nil
}

// List loads every device in the cache, sorted by hostname.
func List(dir string) ([]Device, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		d, err := Read(dir, e.Name())
		if errors.Is(err, os.ErrNotExist) {
			continue // not a device directory
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out, nil
}

// Load returns the raw output of kind, or why there is none: the command
// failed (its Failure), or it was not collected (an error saying so).
func Load(dir string, d Device, kind platform.Kind) ([]byte, Output, error) {
	for _, o := range d.Outputs {
		if o.Kind != kind {
			continue
		}
		if o.Error != nil {
			return nil, o, o.Error
		}
		data, err := os.ReadFile(filepath.Join(dir, d.Hostname, o.File))
		return data, o, err
	}
	return nil, Output{}, fmt.Errorf("%s: %s was not collected", d.Hostname, kind)
}
