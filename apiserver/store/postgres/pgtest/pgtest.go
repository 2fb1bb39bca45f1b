// Package pgtest starts real PostgreSQL servers on loopback for tests, from
// the machine's server binaries (/usr/lib/postgresql/15/bin; `make deps`
// installs postgresql-15). A server that cannot start fails the test with
// the reason; it never skips.
//
// initdb runs into a template cluster that each server copies, kept while
// any server runs: a fresh server costs a copy and a start, not an initdb.
// Tests run as root, which PostgreSQL refuses, so the server runs as the
// postgres system user then.
package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/testenv"
)

// BinDir holds the server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// Superuser and Password are the cluster's administrator; tests connect
// with them (password authentication over TCP, as in production).
const (
	Superuser = "meshq_admin"
	Password  = "pgtest-secret"
)

// Options shape a server.
type Options struct {
	// TLS turns on SSL with a fresh self-signed certificate and refuses
	// connections without it.
	TLS bool
}

// Server is one postgres process owned by a test.
type Server struct {
	Port int
	// Dir holds the cluster (Dir/data), its log and, with TLS, the
	// certificate (CAFile).
	Dir    string
	CAFile string
	cmd    *exec.Cmd
	exited chan struct{}
	cred   *syscall.Credential
	opts   Options
}

// Start starts a server on a free loopback port and stops it (removing its
// files) when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	tmpl, cred, release, err := template()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(release)
	dir, err := os.MkdirTemp("", "meshq-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Port: testenv.FreePort(t), Dir: dir, cred: cred, opts: opts}
	// The server user writes its socket and log here.
	if err := s.own(dir); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if out, err := exec.Command("cp", "-a", tmpl, s.data()).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: copying the template cluster: %v: %s", err, out)
	}
	hba := "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if opts.TLS {
		if err := s.writeCert(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
	}
	if err := s.writeOwned(filepath.Join(s.data(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.Start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// DSN is a POSTGRES_DSN for database db as the superuser; sslmode is
// require with TLS and disable without, unless extra sets it.
func (s *Server) DSN(db string, extra ...string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(Superuser, Password), Host: s.Addr(), Path: "/" + db}
	q := url.Values{}
	q.Set("sslmode", "disable")
	if s.opts.TLS {
		q.Set("sslmode", "require")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// CreateDatabase makes a new empty database and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	s.SQL(t, "postgres", "CREATE DATABASE "+name)
	return s.DSN(name)
}

// SQL runs statements in db through psql over the server's socket and
// returns what psql printed (unaligned, tuples only).
func (s *Server) SQL(t testing.TB, db, sql string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(BinDir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v: %s", sql, err, out)
	}
	return string(out)
}

// Start (re)starts the server on the same port and data.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	args := []string{"-D", s.data(), "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning"}
	if s.opts.TLS {
		args = append(args, "-c", "ssl=on",
			"-c", "ssl_cert_file="+filepath.Join(s.Dir, "server.crt"),
			"-c", "ssl_key_file="+filepath.Join(s.Dir, "server.key"))
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer logf.Close()
	s.own(logf.Name())
	s.cmd = exec.Command(filepath.Join(BinDir, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("pgtest: starting postgres: %v", err)
	}
	exited := make(chan struct{})
	cmd := s.cmd
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			t.Fatalf("postgres exited at start; log:\n%s", s.Log())
		default:
		}
		if exec.Command(filepath.Join(BinDir, "pg_isready"), "-q", "-h", s.Dir, "-p", strconv.Itoa(s.Port)).Run() == nil {
			s.exited = exited
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("postgres on %s not ready within 30s; log:\n%s", s.Addr(), s.Log())
}

// Stop kills the server at once (SIGKILL to its process group: the
// database goes away as in a crash or a network cut). Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// The backends have sessions of their own (PostgreSQL calls setsid in
	// each child): they are killed by their working directory, the data
	// directory, or they would outlive the postmaster for a moment, still
	// attached to its shared memory, and a restart would refuse to start
	// ("pre-existing shared memory block is still in use").
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range s.processes() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	<-s.exited
	s.cmd = nil
	for i := 0; i < 500; i++ {
		left := s.processes()
		if len(left) == 0 {
			break
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Orphaned backends die with their postmaster; wait for the port to
	// close so that a restart can bind it.
	for range 200 {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// processes are the running processes of the server: those whose working
// directory is its data directory (a zombie has none).
func (s *Server) processes() []int {
	data, err := filepath.EvalSymlinks(s.data())
	if err != nil {
		return nil
	}
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if cwd, err := os.Readlink(filepath.Join(d, "cwd")); err == nil && cwd == data {
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Log is the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	return string(b)
}

func (s *Server) own(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

// writeOwned writes a file the server user owns.
func (s *Server) writeOwned(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return s.own(path)
}

// writeCert makes a self-signed CA and a server certificate for 127.0.0.1
// and localhost.
func (s *Server) writeCert() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.crt")
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return err
	}
	if err := s.writeOwned(filepath.Join(s.Dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return s.writeOwned(filepath.Join(s.Dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

var (
	tmplMu   sync.Mutex
	tmplDir  string
	tmplCred *syscall.Credential
	tmplRefs int
)

// template returns the template cluster, running initdb when no server
// holds one; release drops the server's hold, and the last removes it.
func template() (dir string, cred *syscall.Credential, release func(), err error) {
	tmplMu.Lock()
	defer tmplMu.Unlock()
	if tmplDir == "" {
		if tmplDir, tmplCred, err = initTemplate(); err != nil {
			return "", nil, nil, err
		}
	}
	tmplRefs++
	var once sync.Once
	release = func() {
		once.Do(func() {
			tmplMu.Lock()
			defer tmplMu.Unlock()
			if tmplRefs--; tmplRefs == 0 {
				os.RemoveAll(filepath.Dir(tmplDir))
				tmplDir = ""
			}
		})
	}
	return tmplDir, tmplCred, release, nil
}

func initTemplate() (string, *syscall.Credential, error) {
	if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
		return "", nil, fmt.Errorf("PostgreSQL server binaries missing in %s (make deps installs postgresql-15): %v", BinDir, err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, fmt.Errorf("running as root needs the postgres system user (the postgresql-15 package makes it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "meshq-pgtemplate-")
	if err != nil {
		return "", nil, err
	}
	os.Chmod(dir, 0o755)
	if cred != nil {
		os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte(Password+"\n"), 0o644)
	cmd := exec.Command(filepath.Join(BinDir, "initdb"), "-D", filepath.Join(dir, "data"), "-U", Superuser,
		"--pwfile", pw, "--auth-local=trust", "--auth-host=scram-sha-256", "-N", "-E", "UTF8", "--locale=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	return filepath.Join(dir, "data"), cred, nil
}
