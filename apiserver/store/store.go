// Package store persists the network graph's facts. Embedded is the
// default store: a bbolt file in MESHQ_DATA_DIR, crash-safe (an ingest that
// returned nil survives kill -9 at any moment; a torn write never corrupts
// it, because bbolt commits with copy-on-write pages and a checksummed
// meta page written last, each fsynced) and fast enough to reload a
// 10,000-device network in well under the 5 s restart budget.
//
// What is kept per device is the normalized facts.Device. User metadata
// lives in Device.Metadata: UpdateMetadata merges a patch into it, and
// re-ingesting a device keeps it unless the ingested device brings
// metadata of its own, which then replaces it (a collector that does not
// know about metadata never wipes what users set). A device removed by a
// replace ingest loses its metadata with it.
package store

import (
	"errors"
	"maps"
)

// Ingest modes.
const (
	// ModeMerge upserts the devices given and keeps the others.
	ModeMerge = "merge"
	// ModeReplace makes the devices given the whole network: every other
	// device is removed.
	ModeReplace = "replace"
)

// ErrNotFound is returned (wrapped) for a hostname the store does not hold.
var ErrNotFound = errors.New("device not found")

// MergeMetadata applies patch to base as update_device_metadata does: each
// key of patch is set, and a key whose value is nil is removed. base is not
// modified; the result is nil when empty.
func MergeMetadata(base, patch map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]any, len(patch))
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// UnavailableError is a store that cannot be reached now (a database
// down, a connection lost): the change was not applied and trying again
// later may succeed. Reason says so in words safe for clients; Err, the
// driver's error, belongs in the log only.
type UnavailableError struct {
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }
