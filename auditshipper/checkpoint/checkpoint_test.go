package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sample(seq uint64, off int64) State {
	return State{Seq: seq, Files: []File{{Path: "/var/log/a.jsonl", Dev: 1, Ino: 2, HeadLen: 10, HeadHash: "h", Offset: off, TailLen: 4, TailHash: "t"}}}
}

func TestSaveLoadKeepsPrevious(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(); err != nil || len(got.Files) != 0 {
		t.Fatalf("Load(empty dir) = %+v, %v; want empty state, nil", got, err)
	}
	if err := s.Save(sample(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample(2, 200)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(2, 200), got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	// A torn current file falls back to the previous copy.
	if err := os.WriteFile(filepath.Join(s.Dir(), currentName), []byte(`{"version":1,"checksum":"x","sta`), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(1, 100), got); diff != "" {
		t.Errorf("Load() with torn current mismatch (-want +got):\n%s", diff)
	}
	// Current missing (crash between the two renames): previous is used.
	os.Remove(filepath.Join(s.Dir(), currentName))
	if got, err := s.Load(); err != nil || got.Seq != 1 {
		t.Errorf("Load() without current = seq %d, %v; want seq 1", got.Seq, err)
	}
}

func TestLoadRejectsCorruption(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(sample(3, 300))
	if err != nil {
		t.Fatal(err)
	}
	// Flip one digit of the offset: the checksum must catch it.
	bad := strings.Replace(string(b), `"offset":300`, `"offset":900`, 1)
	for _, name := range []string{currentName, prevName} {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte(bad), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Load(corrupt both) error = %v, want a checksum error", err)
	}
	if _, err := Decode([]byte(`{"version":7,"checksum":"","state":{}}`)); err == nil {
		t.Errorf("Decode(version 7) = nil error, want version error")
	}
}

func TestFailedSaveKeepsOld(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sample(1, 10)); err != nil {
		t.Fatal(err)
	}
	gone := &Store{dir: filepath.Join(dir, "missing")}
	if err := gone.Save(sample(2, 20)); err == nil {
		t.Errorf("Save(into missing dir) = nil, want error")
	}
	if got, err := s.Load(); err != nil || got.Seq != 1 {
		t.Errorf("Load() after failed save = seq %d, %v; want seq 1", got.Seq, err)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(sample(1, 1))
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"checksum":"sha256:00","state":{"files":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Decode(b)
		if err != nil {
			return
		}
		// Anything accepted must round-trip.
		again, err := Encode(st)
		if err != nil {
			t.Fatalf("Encode(decoded) = %v", err)
		}
		st2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode(Encode(st)) = %v", err)
		}
		if diff := cmp.Diff(st, st2); diff != "" {
			t.Errorf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func TestOpenAndSaveSyncDirectories(t *testing.T) {
	// Each directory Open creates has its entry fsynced in its parent, and
	// each Save fsyncs the state directory after its renames.
	base := t.TempDir()
	dir := filepath.Join(base, "a", "state")
	var synced []string
	rec := func(p string) error { synced = append(synced, p); return nil }
	s, err := open(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{base, filepath.Join(base, "a")}, synced); diff != "" {
		t.Errorf("open(new dir) fsynced (-want +got):\n%s", diff)
	}
	synced = nil
	if err := s.Save(sample(1, 10)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dir}, synced); diff != "" {
		t.Errorf("Save fsynced (-want +got):\n%s", diff)
	}
	synced = nil
	if _, err := open(dir, rec); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Errorf("open(existing dir) fsynced %v, want nothing", synced)
	}
	// A failing fsync of a new directory's parent fails Open.
	failing := func(string) error { return errors.New("injected fsync failure") }
	if _, err := open(filepath.Join(base, "b"), failing); err == nil {
		t.Errorf("open(new dir, failing fsync) = nil error, want one")
	}
}
