package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Neo4j is a real Neo4j 5 (Maven Central's org.neo4j.test:neo4j-harness,
// in process in a small Java launcher, neo4jharness/) on a loopback bolt
// port, without authentication. Starting a JVM and a database takes
// seconds, so a test package starts one in TestMain and its tests share it.
type Neo4j struct {
	// URI is bolt://127.0.0.1:PORT.
	URI  string
	Port int
	// CACert, with Neo4jOptions.TLS, is the PEM file of the server's
	// self-signed certificate (for localhost), to trust as its CA.
	CACert string
	dir    string
	cmd    *exec.Cmd
	in     io.WriteCloser
	log    *os.File
	once   sync.Once
}

// neo4jStartTimeout bounds the JVM's start on a busy two-core machine.
const neo4jStartTimeout = 3 * time.Minute

// StartNeo4j builds the launcher (once per source version: the jar and its
// classpath are cached under var/neo4j-harness/ at the repository root, the
// harness's jars in Maven's own repository) and starts it on a free
// loopback port. Call Stop when done; the server also stops by itself when
// this process dies, since it exits when its standard input closes.
func StartNeo4j() (*Neo4j, error) { return StartNeo4jWith(Neo4jOptions{}) }

// Neo4jOptions configures a test server.
type Neo4jOptions struct {
	// Heap is the JVM's maximum heap (-Xmx), default 1g; Neo4j lets all
	// transactions together use 70% of it.
	Heap string
	// TransactionMax limits the memory of one transaction in bytes
	// (db.memory.transaction.max; 0: no limit), to make a server that
	// refuses large transactions as one sized for less would.
	TransactionMax int64
	// TLS makes bolt require TLS, with a self-signed certificate for
	// localhost the harness makes; Neo4j.CACert is then its file.
	TLS bool
	// ServerJVM runs the JVM as a Neo4j server runs, with its default
	// collector (G1) and both JIT compilers, for benchmarks that keep the
	// server busy for minutes. Tests leave it off: the serial collector
	// and C1 alone start faster and use less memory.
	ServerJVM bool
}

// StartNeo4jWith is StartNeo4j with options.
func StartNeo4jWith(opt Neo4jOptions) (*Neo4j, error) {
	if opt.Heap == "" {
		opt.Heap = "1g"
	}
	jar, classpath, err := buildNeo4jLauncher()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "meshq-neo4j-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "launcher.log"))
	if err != nil {
		return nil, err
	}
	n := &Neo4j{Port: port, dir: dir, log: logf}
	args := []string{"-Xmx" + opt.Heap}
	if !opt.ServerJVM {
		// C1 only: a test server lives for seconds, never long enough
		// for C2's optimisations to pay for their compile time.
		args = append(args, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
	}
	args = append(args, "-cp", jar+string(os.PathListSeparator)+classpath,
		"meshq.Launcher", strconv.Itoa(port), filepath.Join(dir, "db"), strconv.FormatInt(opt.TransactionMax, 10), map[bool]string{true: "tls"}[opt.TLS])
	n.cmd = exec.Command("java", args...)
	n.cmd.Stderr = logf
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if n.in, err = n.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the Neo4j launcher (java from PATH): %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if uri, ok := strings.CutPrefix(line, "BOLT "); ok {
				found <- strings.TrimSuffix(uri, "/")
			}
			fmt.Fprintln(logf, line)
		}
		close(found)
	}()
	select {
	case uri, ok := <-found:
		if !ok {
			n.Stop()
			return nil, fmt.Errorf("the Neo4j launcher exited before printing its bolt URI; log:\n%s", n.Log())
		}
		n.URI = uri
		if opt.TLS {
			certs, _ := filepath.Glob(filepath.Join(dir, "db", "*", "certificates", "public.crt"))
			if len(certs) != 1 {
				n.Stop()
				return nil, fmt.Errorf("the Neo4j harness with TLS left %d certificates under %s, want 1", len(certs), dir)
			}
			n.CACert = certs[0]
		}
	case <-time.After(neo4jStartTimeout):
		n.Stop()
		return nil, fmt.Errorf("the Neo4j launcher printed no bolt URI within %s; log:\n%s", neo4jStartTimeout, n.Log())
	}
	return n, nil
}

// Log is the launcher's output so far (for failure messages).
func (n *Neo4j) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "launcher.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Stop shuts the server down and removes its files (safe to call twice).
func (n *Neo4j) Stop() {
	n.once.Do(func() {
		n.in.Close()
		done := make(chan struct{})
		go func() { n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			n.cmd.Process.Kill()
			<-done
		}
		n.log.Close()
		os.RemoveAll(n.dir)
	})
}

// freePort is FreePort without a testing.TB (TestMain has none).
func freePort() (int, error) {
	low := ephemeralLow()
	for range 1000 {
		port := portFloor + rand.IntN(low-portFloor)
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d after 1000 tries", portFloor, low-1)
}

// buildNeo4jLauncher returns the launcher's jar and classpath, building
// them with Maven when the cache does not hold this source's build.
func buildNeo4jLauncher() (jar, classpath string, err error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "neo4jharness")
	root, err := repoRoot(filepath.Dir(self))
	if err != nil {
		return "", "", err
	}
	sum, err := treeHash(src)
	if err != nil {
		return "", "", fmt.Errorf("hashing the Neo4j launcher's source: %w", err)
	}
	build := filepath.Join(root, "var", "neo4j-harness", sum)
	jar = filepath.Join(build, "target", "neo4j-launcher-1.jar")
	cpFile := filepath.Join(build, "target", "classpath.txt")
	if err := os.MkdirAll(build, 0o755); err != nil {
		return "", "", err
	}
	// Test binaries of several packages may build at once.
	lock, err := os.OpenFile(filepath.Join(build, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", "", err
	}
	if cp, ok := cachedClasspath(jar, cpFile); ok {
		return jar, cp, nil
	}
	if err := os.CopyFS(build, os.DirFS(src)); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", "", fmt.Errorf("copying the Neo4j launcher's source: %w", err)
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", "", fmt.Errorf("mvn not found in PATH (make deps installs maven): %w", err)
	}
	cmd := exec.Command(mvn, "-q", "-B", "package", "dependency:build-classpath", "-Dmdep.outputFile="+cpFile)
	cmd.Dir = build
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building the Neo4j launcher with Maven: %w\n%s", err, out)
	}
	cp, ok := cachedClasspath(jar, cpFile)
	if !ok {
		return "", "", errors.New("building the Neo4j launcher: Maven left no jar or classpath")
	}
	return jar, cp, nil
}

// cachedClasspath is the classpath of a finished build whose jars are all
// still in Maven's repository.
func cachedClasspath(jar, cpFile string) (string, bool) {
	if _, err := os.Stat(jar); err != nil {
		return "", false
	}
	b, err := os.ReadFile(cpFile)
	if err != nil {
		return "", false
	}
	cp := strings.TrimSpace(string(b))
	for _, p := range filepath.SplitList(cp) {
		if _, err := os.Stat(p); err != nil {
			return "", false
		}
	}
	return cp, cp != ""
}

func repoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// treeHash names a build by its source's content.
func treeHash(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
