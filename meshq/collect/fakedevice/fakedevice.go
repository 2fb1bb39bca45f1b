// Package fakedevice runs SSH servers on loopback that behave like the
// network devices `meshq collect` logs in to: each platform's prompt, its
// enable mode, its pager and the way it rejects an unknown command, with
// canned outputs, and the faults collect must classify (refused password,
// a device that never answers, a session dropped mid-command). A jump host
// that forwards TCP (direct-tcpip) is here too. It is for tests only; the
// server side is golang.org/x/crypto/ssh.
package fakedevice

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Style is how a platform's CLI looks.
type Style struct {
	// UserPrompt and EnablePrompt render the prompt for a hostname and
	// login name. EnablePrompt is empty where there is no enable mode.
	UserPrompt, EnablePrompt func(host, user string) string
	// Pager is the line shown when a page is full; Erase is what the
	// device writes over it when a key is pressed.
	Pager, Erase string
	// Invalid is the answer to an unknown command (lines, no trailing
	// newline).
	Invalid func(cmd string) string
}

// Styles are the platforms' CLIs, keyed by Netmiko device type, as their
// vendors' documentation shows them.
var Styles = map[string]Style{
	"cisco_ios":       ciscoStyle,
	"cisco_xe":        ciscoStyle,
	"cisco_nxos":      {UserPrompt: suffix("#"), Pager: "--More--", Erase: "\r        \r", Invalid: caret("% Invalid command at '^' marker.")},
	"arista_eos":      {UserPrompt: suffix(">"), EnablePrompt: suffix("#"), Pager: " --More-- ", Erase: "\r          \r", Invalid: func(string) string { return "% Invalid input" }},
	"juniper_junos":   {UserPrompt: at("> "), Pager: "---(more)---", Erase: "\r            \r", Invalid: caret("syntax error, expecting <command>.")},
	"paloalto_panos":  {UserPrompt: at("> "), Pager: "lines 1-20 --more--", Erase: "\r                   \r", Invalid: caret("Invalid syntax.")},
	"fortinet":        {UserPrompt: suffix(" # "), Pager: "--More-- ", Erase: "\r         \r", Invalid: func(string) string { return "Unknown action 0\r\nCommand fail. Return code -61" }},
	"cisco_asa":       {UserPrompt: suffix(">"), EnablePrompt: suffix("#"), Pager: "<--- More --->", Erase: "\r              \r", Invalid: caret("ERROR: % Invalid input detected at '^' marker.")},
	"cisco_ftd":       {UserPrompt: func(string, string) string { return "> " }, Pager: "<--- More --->", Erase: "\r              \r", Invalid: caret("ERROR: % Invalid input detected at '^' marker.")},
	"aruba_os":        {UserPrompt: func(h, _ string) string { return "(" + h + ") #" }, Pager: "--More-- (q) quit (u) pageup (/) search (n) repeat", Erase: "\r" + strings.Repeat(" ", 50) + "\r", Invalid: caret("% Invalid input detected at '^' marker.")},
	"checkpoint_gaia": {UserPrompt: suffix("> "), Pager: "-- More --", Erase: "\r          \r", Invalid: func(cmd string) string { return "CLINFR0329  Invalid command:'" + cmd + "'." }},
}

// IOS erases its pager with backspaces, as a real terminal sees it.
var ciscoStyle = Style{UserPrompt: suffix(">"), EnablePrompt: suffix("#"), Pager: " --More-- ",
	Erase:   strings.Repeat("\b", 10) + strings.Repeat(" ", 10) + strings.Repeat("\b", 10),
	Invalid: caret("% Invalid input detected at '^' marker.")}

func suffix(s string) func(string, string) string {
	return func(h, _ string) string { return h + s }
}

func at(s string) func(string, string) string {
	return func(h, u string) string { return u + "@" + h + s }
}

func caret(msg string) func(string) string {
	return func(string) string { return "        ^\r\n" + msg }
}

// Device is how one fake device behaves.
type Device struct {
	Hostname   string
	DeviceType string // a key of Styles
	Username   string
	Password   string
	// AuthorizedKey, when set, is accepted for Username.
	AuthorizedKey ssh.PublicKey
	// EnableSecret is the secret "enable" asks for; the session starts in
	// user mode when the style has an enable prompt.
	EnableSecret string
	// Setup are commands accepted silently; any of them turns paging off
	// (the platform's paging-off command is among them). A setup command
	// starting with "config " enters a sub-mode left by "end".
	Setup []string
	// Outputs answers each command; other commands are rejected the
	// platform's way.
	Outputs map[string]string
	// PageLines pages outputs longer than this until a setup command
	// turns paging off (0: never pages).
	PageLines int
	// StubbornPager keeps paging on whatever setup says.
	StubbornPager bool
	// Banner is written before the first prompt.
	Banner string
	// Hang: after login the device never writes a byte.
	Hang bool
	// DropOn: the connection is cut halfway through this command's output.
	DropOn string
}

// Server is a running fake device.
type Server struct {
	Addr    string
	HostKey ssh.PublicKey
	dev     Device
	conns   atomic.Int32
	mu      sync.Mutex
	heard   []Heard
}

// Heard is one command line the device received.
type Heard struct {
	Line       string
	Privileged bool // received in enable mode
}

// Conns is how many TCP connections the device accepted.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Heard returns the command lines received (secrets typed at the enable
// password prompt are not among them).
func (s *Server) Heard() []Heard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Heard(nil), s.heard...)
}

// KnownHostsLine is the device's known_hosts line.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
}

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port is the listening port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func hostKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake device cannot listen on loopback: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func serverConfig(t testing.TB, user, password string, key ssh.PublicKey) (*ssh.ServerConfig, ssh.Signer) {
	signer := hostKey(t)
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == user && password != "" && string(pw) == password {
				return nil, nil
			}
			return nil, errors.New("access denied")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == user && key != nil && string(k.Marshal()) == string(key.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorised")
		},
	}
	cfg.AddHostKey(signer)
	return cfg, signer
}

// Start runs a fake device until the test ends.
func Start(t testing.TB, d Device) *Server {
	t.Helper()
	if _, ok := Styles[d.DeviceType]; !ok {
		t.Fatalf("fakedevice: no style for %q", d.DeviceType)
	}
	cfg, signer := serverConfig(t, d.Username, d.Password, d.AuthorizedKey)
	ln := listen(t)
	s := &Server{Addr: ln.Addr().String(), HostKey: signer.PublicKey(), dev: d}
	go s.serve(ln, cfg)
	return s
}

func (s *Server) serve(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go s.handle(c, cfg)
	}
}

func (s *Server) handle(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		shell := make(chan struct{})
		go func() {
			for r := range chReqs {
				ok := r.Type == "pty-req" || r.Type == "shell" || r.Type == "env" || r.Type == "window-change"
				if r.WantReply {
					_ = r.Reply(ok, nil)
				}
				if r.Type == "shell" {
					close(shell)
				}
			}
		}()
		<-shell
		s.cli(ch, c)
		ch.Close()
		return
	}
}

// cli is the device's command line on one session.
func (s *Server) cli(ch ssh.Channel, conn net.Conn) {
	d := s.dev
	st := Styles[d.DeviceType]
	if d.Hang {
		_, _ = io.Copy(io.Discard, ch)
		return
	}
	enabled := st.EnablePrompt == nil
	paging := d.PageLines > 0
	mode := "" // sub-mode, "(console)"
	prompt := func() string {
		p := st.UserPrompt(d.Hostname, d.Username)
		if enabled && st.EnablePrompt != nil {
			p = st.EnablePrompt(d.Hostname, d.Username)
		}
		if mode != "" {
			i := strings.IndexAny(p, ">#")
			p = strings.TrimRight(p[:i], " ") + " " + mode + " " + p[i:]
		}
		return p
	}
	w := func(s string) bool { _, err := io.WriteString(ch, s); return err == nil }
	if d.Banner != "" && !w(strings.ReplaceAll(d.Banner, "\n", "\r\n")) {
		return
	}
	if !w("\r\n" + prompt()) {
		return
	}
	in := &lineReader{r: ch}
	for {
		line, err := in.line(ch, true)
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		s.mu.Lock()
		s.heard = append(s.heard, Heard{Line: cmd, Privileged: enabled && st.EnablePrompt != nil})
		s.mu.Unlock()
		var out string
		switch {
		case cmd == "":
		case cmd == "exit" || cmd == "quit":
			return
		case cmd == "enable" && st.EnablePrompt != nil:
			if !w("Password: ") {
				return
			}
			secret, err := in.line(ch, false)
			if err != nil {
				return
			}
			if secret == d.EnableSecret && d.EnableSecret != "" {
				enabled = true
			} else {
				out = "% Access denied\n"
			}
		case contains(d.Setup, cmd):
			if !d.StubbornPager {
				paging = false
			}
			if m, ok := strings.CutPrefix(cmd, "config "); ok {
				mode = "(" + m[strings.LastIndex(m, " ")+1:] + ")"
			}
		case cmd == "end" && mode != "":
			mode = ""
		default:
			o, ok := d.Outputs[cmd]
			if !ok {
				out = st.Invalid(cmd) + "\n"
			} else {
				out = o
				// A CLI ends its output with a line break before the
				// prompt, recorded or not.
				if out != "" && !strings.HasSuffix(out, "\n") {
					out += "\n"
				}
			}
		}
		if cmd != "" && cmd == d.DropOn {
			half := strings.ReplaceAll(out[:len(out)/2], "\n", "\r\n")
			w(half)
			conn.Close()
			return
		}
		if !s.page(ch, in, st, out, paging) || !w(prompt()) {
			return
		}
	}
}

// page writes out, a page at a time when paging, and reports whether the
// session goes on.
func (s *Server) page(ch ssh.Channel, in *lineReader, st Style, out string, paging bool) bool {
	lines := strings.SplitAfter(out, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if paging && i > 0 && i%s.dev.PageLines == 0 {
			if _, err := io.WriteString(ch, st.Pager); err != nil {
				return false
			}
			k, err := in.key()
			if err != nil {
				return false
			}
			if _, err := io.WriteString(ch, st.Erase); err != nil {
				return false
			}
			if k == 'q' {
				return true
			}
		}
		if _, err := io.WriteString(ch, strings.ReplaceAll(l, "\n", "\r\n")); err != nil {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lineReader reads what is typed, echoing it like a terminal.
type lineReader struct {
	r    io.Reader
	last byte
}

func (l *lineReader) readByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(l.r, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

func (l *lineReader) line(echo io.Writer, show bool) (string, error) {
	var sb strings.Builder
	for {
		b, err := l.readByte()
		if err != nil {
			return "", err
		}
		prev := l.last
		l.last = b
		if b == '\n' && prev == '\r' {
			continue
		}
		if b == '\r' || b == '\n' {
			_, err := io.WriteString(echo, "\r\n")
			return sb.String(), err
		}
		sb.WriteByte(b)
		if show {
			if _, err := echo.Write([]byte{b}); err != nil {
				return "", err
			}
		}
	}
}

func (l *lineReader) key() (byte, error) {
	for {
		b, err := l.readByte()
		if err != nil {
			return 0, err
		}
		prev := l.last
		l.last = b
		if b == '\n' && prev == '\r' {
			continue
		}
		return b, nil
	}
}

// StartSilent accepts TCP connections and never says a word (not even
// the SSH version): a device whose SSH daemon is wedged.
func StartSilent(t testing.TB) string {
	t.Helper()
	ln := listen(t)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// Jump is a running fake jump host.
type Jump struct {
	Addr     string
	HostKey  ssh.PublicKey
	forwards atomic.Int32
}

// Forwards is how many connections the jump host forwarded.
func (j *Jump) Forwards() int { return int(j.forwards.Load()) }

// KnownHostsLine is the jump host's known_hosts line.
func (j *Jump) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(j.Addr)}, j.HostKey)
}

// StartJump runs a jump host that forwards TCP for user/password.
func StartJump(t testing.TB, user, password string) *Jump {
	t.Helper()
	cfg, signer := serverConfig(t, user, password, nil)
	ln := listen(t)
	j := &Jump{Addr: ln.Addr().String(), HostKey: signer.PublicKey()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go j.handle(c, cfg)
		}
	}()
	return j
}

func (j *Jump) handle(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			_ = nc.Reject(ssh.Prohibited, "forwarding only")
			continue
		}
		var req struct {
			Host       string
			Port       uint32
			OriginHost string
			OriginPort uint32
		}
		if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
			_ = nc.Reject(ssh.ConnectionFailed, "bad request")
			continue
		}
		target, err := net.Dial("tcp", net.JoinHostPort(req.Host, fmt.Sprint(req.Port)))
		if err != nil {
			_ = nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			target.Close()
			continue
		}
		j.forwards.Add(1)
		go ssh.DiscardRequests(chReqs)
		go func() {
			defer ch.Close()
			defer target.Close()
			go func() { _, _ = io.Copy(target, ch); target.Close() }()
			_, _ = io.Copy(ch, target)
		}()
	}
}
