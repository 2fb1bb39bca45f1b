package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
	"github.com/meshoptixiq/mesh/auditshipper/tail"
	"github.com/meshoptixiq/mesh/common/obs"
)

// The replay command sends the dead letters to the sink again, once the
// cause is fixed (an index mapping, a field the sink refused). It moves the
// dead-letter file aside under the lock the daemon takes to write it, so it
// may run beside the daemon: what the daemon dead-letters from then on goes
// to a new file. Records refused again are dead-lettered again; nothing is
// dropped. Progress is saved after every batch, so an interrupted replay
// (sink down, timeout, SIGTERM) goes on where it stopped when run again.

const (
	replayingName = "deadletter.replaying.jsonl"
	replayPosName = "deadletter.replaying.offset"
)

func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("auditshipper replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up (keeping what is left for the next replay) after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: auditshipper replay [--timeout 5m]\n\n"+
			"Sends the records in SHIPPER_STATE_DIR/%s to the configured sink again.\n"+
			"It reads the same environment as the daemon and may run beside it.\n\n", deadLetterName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay: unexpected arguments %q", fs.Args())
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := obs.NewLogger(stderr, cfg.LogLevel, "auditshipper")
	work := filepath.Join(cfg.StateDir, replayingName)
	if _, err := os.Stat(work); errors.Is(err, os.ErrNotExist) {
		moved, err := moveAside(filepath.Join(cfg.StateDir, deadLetterName), work)
		if err != nil {
			return err
		}
		if !moved {
			fmt.Fprintln(stdout, "no dead letters to replay")
			return nil
		}
	} else if err != nil {
		return err
	} else {
		log.Info("going on with an interrupted replay", "path", work)
	}

	reg := obs.NewRegistry("auditshipper")
	snk, err := buildSink(cfg, stdout, reg)
	if err != nil {
		return err
	}
	m, err := newShipMetrics(reg, nil)
	if err != nil {
		return err
	}
	dead := openDeadLetters(cfg.StateDir, checkpoint.SyncDir)
	defer dead.close()
	sh := &shipper{sink: snk, dead: dead, log: log.With("component", "replay"), m: m,
		retry: retryPolicy{min: cfg.RetryMin, max: cfg.RetryMax, auth: cfg.AuthRetry}}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rep, err := replayFile(ctx, sh, work, cfg.BatchRecords)
	fmt.Fprintf(stdout, "replayed %d dead letters: %d handed to the sink, %d dead-lettered again\n",
		rep.sent, rep.sent-rep.refused, rep.refused)
	if err != nil {
		return fmt.Errorf("replay stopped (%w); run it again to go on from where it stopped", err)
	}
	if rep.refused > 0 {
		fmt.Fprintf(stdout, "the records refused again are in %s\n", filepath.Join(cfg.StateDir, deadLetterName))
	}
	os.Remove(filepath.Join(cfg.StateDir, replayPosName))
	if err := os.Remove(work); err != nil {
		return err
	}
	return checkpoint.SyncDir(cfg.StateDir)
}

// moveAside renames the dead-letter file to work under the daemon's write
// lock. It reports false when there is nothing to replay.
func moveAside(path, work string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("locking %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
		return false, err
	}
	if err := os.Rename(path, work); err != nil {
		return false, err
	}
	return true, checkpoint.SyncDir(filepath.Dir(path))
}

type replayReport struct{ sent, refused int }

// replayFile sends the entries of work from the saved position on, in
// batches, saving the position after each.
func replayFile(ctx context.Context, sh *shipper, work string, batchRecords int) (replayReport, error) {
	var rep replayReport
	posPath := filepath.Join(filepath.Dir(work), replayPosName)
	pos := int64(0)
	if b, err := os.ReadFile(posPath); err == nil {
		pos, _ = strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	}
	f, err := os.Open(work)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return rep, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		b := &tail.Batch{}
		end := pos
		for len(b.Lines) < batchRecords {
			raw, err := r.ReadBytes('\n')
			if len(raw) > 0 && raw[len(raw)-1] == '\n' {
				end += int64(len(raw))
				b.Lines = append(b.Lines, replayLine(bytes.TrimRight(raw, "\r\n"), sh.log))
			}
			if err != nil {
				break // EOF (a last line without newline was cut by a crash: not an entry)
			}
		}
		if len(b.Lines) == 0 {
			return rep, nil
		}
		before := deadCount(sh)
		if !sh.handle(ctx, b) {
			return rep, ctx.Err()
		}
		rep.sent += len(b.Lines)
		rep.refused += deadCount(sh) - before
		pos = end
		if err := writeFileSync(posPath, []byte(strconv.FormatInt(pos, 10)+"\n")); err != nil {
			return rep, err
		}
	}
}

// replayLine turns one dead-letter entry back into the line it holds. An
// entry that does not parse is replayed as it is: it will be dead-lettered
// again as invalid JSON, so it stays in the file rather than vanishing.
func replayLine(entry []byte, log *slog.Logger) tail.Line {
	var dl deadLetter
	if err := json.Unmarshal(entry, &dl); err != nil || dl.Raw == nil {
		log.Warn("dead-letter entry does not parse; keeping it as it is", "err", err)
		return tail.Line{Data: append([]byte(nil), entry...), Path: "(unreadable dead-letter entry)"}
	}
	return tail.Line{Data: dl.Raw, Path: dl.File, Offset: dl.Offset}
}

// deadCount is how many records the shipper has dead-lettered so far.
func deadCount(sh *shipper) int {
	sh.dead.mu.Lock()
	defer sh.dead.mu.Unlock()
	return sh.dead.written
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
