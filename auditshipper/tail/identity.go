package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
)

// This file holds how a log file is recognised: its device and inode, a
// hash of its first bytes (telling a reused inode or a rewritten file from
// the one we read), and the rotation family its name belongs to.

// HeadMax is how many leading bytes identify a file's content; TailMax how
// many bytes before a saved offset are hashed to check it on restart. An
// audit line carries its timestamp and request id within its first bytes,
// and is well under TailMax long, so both windows cover at least one id.
const (
	HeadMax = 1024
	TailMax = 4096
)

type fileKey struct{ dev, ino uint64 }

func keyOf(fi os.FileInfo) fileKey {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{uint64(st.Dev), st.Ino}
	}
	return fileKey{}
}

// linked reports whether the file still has a name (a deleted file kept
// open has none).
func linked(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Nlink > 0
}

// head is the identity of a file's content: the hash of its first n bytes.
type head struct {
	n   int64
	sum [32]byte
}

// readHead hashes the first min(size, HeadMax) bytes of fd.
func readHead(fd *os.File, size int64, buf []byte) (head, []byte, error) {
	n := min(size, HeadMax)
	if int64(cap(buf)) < n {
		buf = make([]byte, HeadMax)
	}
	b := buf[:n]
	if _, err := fd.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return head{}, buf, err
	}
	return head{n: n, sum: sha256.Sum256(b)}, buf, nil
}

// startsWith reports whether b begins with the bytes h identifies.
func (h head) startsWith(b []byte) bool {
	return h.n > 0 && h.n <= int64(len(b)) && sha256.Sum256(b[:h.n]) == h.sum
}

// verify reports whether fd (of the given size) still holds what e
// describes: the same first bytes and the same bytes just before e's offset.
func verify(fd *os.File, size int64, e checkpoint.File) bool {
	if size < e.Offset || size < e.HeadLen {
		return false
	}
	if e.HeadLen > 0 && !hashMatches(fd, 0, e.HeadLen, e.HeadHash) {
		return false
	}
	if e.TailLen > 0 && !hashMatches(fd, e.Offset-e.TailLen, e.TailLen, e.TailHash) {
		return false
	}
	return true
}

func hashMatches(fd *os.File, off, n int64, want string) bool {
	buf := make([]byte, n)
	if _, err := fd.ReadAt(buf, off); err != nil {
		return false
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:]) == want
}

// tailHash hashes the up to TailMax bytes of fd just before end.
func tailHash(fd *os.File, end int64) (int64, [32]byte) {
	n := min(end, TailMax)
	if n <= 0 || fd == nil {
		return 0, [32]byte{}
	}
	buf := make([]byte, n)
	if _, err := fd.ReadAt(buf, end-n); err != nil {
		return 0, [32]byte{}
	}
	return n, sha256.Sum256(buf)
}

func decodeHash(s string) [32]byte {
	var out [32]byte
	if h, err := hex.DecodeString(s); err == nil && len(h) == 32 {
		copy(out[:], h)
	}
	return out
}

func openRegular(path string) (*os.File, os.FileInfo, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fd.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fd.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	return fd, fi, nil
}

// compressed names the suffixes of rotated files that were compressed (their
// content was shipped, or is in the uncompressed file they came from).
var compressed = []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"}

// rotationFamily names the family of a log file: the live name that it or
// its rotated names come from. A rotated name is the live name with a
// numeric or date suffix ("audit.jsonl.1", "audit.jsonl.2026-11-23",
// logrotate's dateext "audit.jsonl-20261123") or with a date before the
// extension ("audit-2026-11-23.jsonl"); all of these have the family
// "audit.jsonl". Any other name ("audit.jsonl.tmp",
// "audit-export-2025.jsonl") is another file, never read as a rotation.
func rotationFamily(base string) string {
	for _, x := range compressed {
		base = strings.TrimSuffix(base, x)
	}
	base = trimNumericSegments(base)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		if stem := trimNumericSegments(base[:i]); stem != "" {
			base = stem + base[i:]
		}
	}
	return base
}

// trimNumericSegments drops the trailing segments of s, separated by '.',
// '-' or '_', that are all digits: "audit.jsonl.2026-11-23" → "audit.jsonl".
func trimNumericSegments(s string) string {
	for {
		i := strings.LastIndexAny(s, ".-_")
		if i <= 0 || i == len(s)-1 || strings.Trim(s[i+1:], "0123456789") != "" {
			return s
		}
		s = s[:i]
	}
}

func hasAnySuffix(s string, suf []string) bool {
	for _, x := range suf {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}
