package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// progressMin is the file size from which ingest shows progress on a
// terminal by itself (--progress shows it for any size, anywhere).
const progressMin = 32 << 20

// maxFactsFile bounds what one file may decompress to: the largest body
// the server would take (MAX_BODY_BYTES' upper bound).
const maxFactsFile = maxMaxBodyBytes

// readFactsFile reads a facts file ("-" is standard input); a gzip file,
// known by its magic bytes, is decompressed. With p set it reports the
// reading as it goes.
func readFactsFile(name string, p *progress) ([]byte, error) {
	var f *os.File
	var size int64 = -1
	if name == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	var r io.Reader = f
	if p != nil {
		r = p.reader(name, f, size)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not a valid gzip file: %w", name, err)
		}
		defer zr.Close()
		data, err := io.ReadAll(io.LimitReader(zr, maxFactsFile+1))
		if err != nil {
			return nil, fmt.Errorf("%s: not a valid gzip file: %w", name, err)
		}
		if len(data) > maxFactsFile {
			return nil, fmt.Errorf("%s: decompresses to more than %d bytes", name, maxFactsFile)
		}
		return data, nil
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := buf.ReadFrom(br); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// progress writes what a long ingest is doing to w (standard error), one
// line per step and per tenth of a file read.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "ingest: "+format+" (%.1fs)\n", append(args, time.Since(p.start).Seconds())...)
}

func (p *progress) reader(name string, r io.Reader, size int64) io.Reader {
	return &countingReader{r: r, report: func(n int64, done bool) {
		switch {
		case done:
			p.printf("read %s: %s", name, mib(n))
		case size > 0:
			p.printf("reading %s: %d%% (%s of %s)", name, n*100/size, mib(n), mib(size))
		}
	}, step: max(size/10, 1<<20)}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// countingReader calls report every step bytes and once at the end.
type countingReader struct {
	r        io.Reader
	n, next  int64
	step     int64
	report   func(n int64, done bool)
	reported bool
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.next == 0 {
		c.next = c.step
	}
	for c.n >= c.next && err == nil {
		c.report(c.n, false)
		c.next += c.step
	}
	if errors.Is(err, io.EOF) && !c.reported {
		c.reported = true
		c.report(c.n, true)
	}
	return n, err
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// wantProgress says whether ingest shows progress for these files: asked
// with --progress, or on a terminal for a large file.
func wantProgress(flag bool, stderr io.Writer, names []string) bool {
	if flag {
		return true
	}
	if !isTerminal(stderr) {
		return false
	}
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.Size() >= progressMin {
			return true
		}
	}
	return false
}
