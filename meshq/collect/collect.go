// Package collect logs in to network devices over SSH and caches the raw
// output of their platform's commands (meshq/platform) in the raw cache
// (meshq/rawcache), for `meshq parse`. Each device gets an interactive
// shell, as a person would: the prompt is learned, enable mode entered
// where the platform has one, paging turned off, then every command run
// in turn. Devices are collected concurrently up to a bound; one that
// fails (refused login, no answer, dropped session, rejected command) is
// recorded with the class of its failure and never stops the others.
package collect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/errgroup"

	"github.com/meshoptixiq/mesh/meshq/inventory"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// Options are a collection run's settings.
type Options struct {
	// Cache is the raw cache directory.
	Cache string
	// Workers bounds how many devices are collected at once (at least 1).
	Workers int
	// Retries is how many more sessions a device gets after a connect
	// failure or a timeout. Refused credentials, host keys and rejected
	// commands are not retried: another try gives the same answer (and
	// repeated wrong passwords lock accounts).
	Retries int
	// Backoff is the wait before the first retry; it doubles after each.
	Backoff time.Duration
	// Done, when set, is called after each device (from any goroutine,
	// one call at a time).
	Done func(Result)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Result is one device's outcome.
type Result struct {
	Hostname   string
	Host       string
	DeviceType string
	Attempts   int
	// Collected and Failed count commands.
	Collected, Failed int
	// Err is why the device, or part of it, was not collected.
	Err *rawcache.Failure
	// Partial is set when Err is about some commands only (the rest were
	// collected).
	Partial bool
}

// Run collects every device and writes each to the cache as it finishes.
// The results are in inventory order. The error is only for the run as a
// whole (the cache cannot be created); device failures are in the results.
func Run(ctx context.Context, devices []inventory.Device, opts Options) ([]Result, error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := checkCacheDir(opts.Cache); err != nil {
		return nil, err
	}
	results := make([]Result, len(devices))
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	for i, d := range devices {
		g.Go(func() error {
			res := collectDevice(ctx, d, opts)
			results[i] = res
			if opts.Done != nil {
				mu.Lock()
				opts.Done(res)
				mu.Unlock()
			}
			return nil // a device's failure is its result, never the run's
		})
	}
	_ = g.Wait()
	return results, nil
}

func checkCacheDir(dir string) error {
	if dir == "" {
		return errors.New("no cache directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating the cache: %w", err)
	}
	return nil
}

// retryable says which failures another session may cure.
func retryable(class string) bool {
	return class == rawcache.ClassConnect || class == rawcache.ClassTimeout
}

func collectDevice(ctx context.Context, d inventory.Device, opts Options) Result {
	res := Result{Hostname: d.Name, Host: d.Host, DeviceType: d.DeviceType}
	meta := rawcache.Device{Hostname: d.Name, Host: d.Host, DeviceType: d.DeviceType, StartedAt: opts.Now().UTC()}
	var outputs map[platform.Kind][]byte
	wait := opts.Backoff
	for attempt := 1; ; attempt++ {
		meta.Attempts = attempt
		var fail *rawcache.Failure
		meta.Outputs, outputs, fail = attemptOnce(ctx, d, opts.Now)
		meta.Error = fail
		if fail == nil || !retryable(fail.Class) || attempt > opts.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait *= 2
	}
	meta.FinishedAt = opts.Now().UTC()
	if meta.Error == nil {
		// A device that answered but refused some commands is partly
		// collected: say so at the device, with the first refusal.
		var refused []string
		for _, o := range meta.Outputs {
			if o.Error != nil {
				refused = append(refused, fmt.Sprintf("%q (%s)", o.Command, o.Error.Message))
			}
		}
		if len(refused) > 0 {
			meta.Error = &rawcache.Failure{Class: rawcache.ClassUnknownCommand,
				Message: fmt.Sprintf("%d of %d commands refused: %s", len(refused), len(meta.Outputs), strings.Join(refused, "; "))}
			res.Partial = true
		}
	}
	if meta.Error != nil {
		meta.Error.Message = redact(meta.Error.Message, d)
	}
	for i := range meta.Outputs {
		if o := meta.Outputs[i].Error; o != nil {
			o.Message = redact(o.Message, d)
		}
		if meta.Outputs[i].Error == nil {
			res.Collected++
		} else {
			res.Failed++
		}
	}
	res.Attempts = meta.Attempts
	res.Err = meta.Error
	if err := rawcache.Write(opts.Cache, meta, outputs); err != nil {
		res.Err = &rawcache.Failure{Class: rawcache.ClassOther, Message: "writing the cache: " + err.Error()}
		res.Partial = false
	}
	return res
}

// redact removes the device's secrets from a message, should a device
// ever echo one back.
func redact(msg string, d inventory.Device) string {
	secrets := []inventory.Secret{d.Password, d.Secret}
	for _, j := range d.Jumps {
		secrets = append(secrets, j.Password)
	}
	for _, s := range secrets {
		if !s.IsZero() {
			msg = strings.ReplaceAll(msg, s.Reveal(), "[redacted]")
		}
	}
	return msg
}

// attemptOnce is one session with the device: login, setup, commands.
func attemptOnce(ctx context.Context, d inventory.Device, now func() time.Time) ([]rawcache.Output, map[platform.Kind][]byte, *rawcache.Failure) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var closers closeList
	defer closers.closeAll()
	// Cancelling (Ctrl-C) closes every connection, which ends any wait.
	stop := context.AfterFunc(ctx, closers.closeAll)
	defer stop()

	client, fail := dialChain(ctx, d, &closers)
	if fail != nil {
		return nil, nil, fail
	}
	sess, err := client.NewSession()
	if err != nil {
		return nil, nil, &rawcache.Failure{Class: rawcache.ClassConnect, Message: "opening a session: " + err.Error()}
	}
	closers.add(sess.Close)
	sh := newShell(ctx, nil, d.Timeout)
	sess.Stdout, sess.Stderr = sh, sh
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, nil, &rawcache.Failure{Class: rawcache.ClassConnect, Message: "opening the session's input: " + err.Error()}
	}
	sh.stdin = stdin
	// A wide terminal keeps devices from wrapping long lines.
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty("vt100", 0, 511, modes); err != nil {
		return nil, nil, &rawcache.Failure{Class: rawcache.ClassSetup, Message: "requesting a terminal: " + err.Error()}
	}
	if err := sess.Shell(); err != nil {
		return nil, nil, &rawcache.Failure{Class: rawcache.ClassSetup, Message: "starting the shell: " + err.Error()}
	}
	go func() { _ = sess.Wait(); close(sh.closed) }()

	prompt, err := sh.findPrompt()
	if err != nil {
		return nil, nil, asFailure(err)
	}
	p := d.Platform
	if p.Enable && strings.HasSuffix(prompt, ">") {
		if err := enable(sh, d); err != nil {
			return nil, nil, asFailure(err)
		}
	}
	for _, cmd := range p.Setup {
		out, _, err := sh.run(cmd)
		if err != nil {
			return nil, nil, asFailure(err)
		}
		if why := rejection(out); why != "" {
			return nil, nil, &rawcache.Failure{Class: rawcache.ClassSetup, Message: fmt.Sprintf("setup command %q refused: %s", cmd, why)}
		}
	}
	var outs []rawcache.Output
	data := map[platform.Kind][]byte{}
	for _, c := range p.Commands {
		out, _, err := sh.run(c.Command)
		o := rawcache.Output{Kind: c.Kind, Command: c.Command, Format: c.Format, CollectedAt: now().UTC()}
		if err != nil {
			f := asFailure(err)
			o.Error = f
			outs = append(outs, o)
			return outs, data, f
		}
		if why := rejection(out); why != "" {
			o.Error = &rawcache.Failure{Class: rawcache.ClassUnknownCommand, Message: why}
		} else {
			data[c.Kind] = []byte(out)
		}
		outs = append(outs, o)
	}
	_ = sh.send("exit\n")
	return outs, data, nil
}

var passwordPrompt = func(l string) int {
	if strings.HasSuffix(strings.ToLower(strings.TrimSpace(l)), "password:") {
		return 1
	}
	return -1
}

// enable enters privileged mode with the enable secret, or the login
// password when the inventory gives none.
func enable(sh *shell, d inventory.Device) error {
	if err := sh.send("enable\n"); err != nil {
		return err
	}
	either := func(l string) int {
		if sh.prompt.MatchString(l) {
			return 0
		}
		return passwordPrompt(l)
	}
	text, which, err := sh.expect(`"enable"`, either)
	if err != nil {
		return err
	}
	if which == 1 {
		secret := d.Secret
		if secret.IsZero() {
			secret = d.Password
		}
		if err := sh.send(secret.Reveal() + "\n"); err != nil {
			return err
		}
		// A wrong secret is asked for again (IOS) or refused before the
		// user-mode prompt comes back (EOS, ASA).
		if text, which, err = sh.expect("the enable secret", either); err != nil {
			return err
		}
		if which == 1 {
			return &rawcache.Failure{Class: rawcache.ClassSetup, Message: "enable refused the secret"}
		}
	}
	if last := lastLine(text); !strings.HasSuffix(last, "#") {
		return &rawcache.Failure{Class: rawcache.ClassSetup, Message: "enable refused: the prompt is still " + strconv.Quote(last)}
	}
	return nil
}

func asFailure(err error) *rawcache.Failure {
	var f *rawcache.Failure
	if errors.As(err, &f) {
		return f
	}
	return &rawcache.Failure{Class: rawcache.ClassOther, Message: err.Error()}
}

// closeList closes what a session opened, last first, once.
type closeList struct {
	mu   sync.Mutex
	fns  []func() error
	done bool
}

func (c *closeList) add(f func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		_ = f()
		return
	}
	c.fns = append(c.fns, f)
}

func (c *closeList) closeAll() {
	c.mu.Lock()
	fns := c.fns
	c.fns, c.done = nil, true
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		_ = fns[i]()
	}
}

// dialChain connects through the jump hosts to the device.
func dialChain(ctx context.Context, d inventory.Device, closers *closeList) (*ssh.Client, *rawcache.Failure) {
	hops := append(append([]inventory.Endpoint(nil), d.Jumps...), d.Endpoint)
	var client *ssh.Client
	for i, hop := range hops {
		what := "device"
		if i < len(hops)-1 {
			what = "jump host " + hop.Name
		}
		conn, fail := dialHop(ctx, client, hop, what)
		if fail != nil {
			return nil, fail
		}
		closers.add(conn.Close)
		c, fail := handshake(conn, hop, what)
		if fail != nil {
			return nil, fail
		}
		closers.add(c.Close)
		client = c
	}
	return client, nil
}

// dialHop opens TCP to hop, directly or through the previous hop.
func dialHop(ctx context.Context, via *ssh.Client, hop inventory.Endpoint, what string) (net.Conn, *rawcache.Failure) {
	if via == nil {
		dialer := net.Dialer{Timeout: hop.Timeout}
		conn, err := dialer.DialContext(ctx, "tcp", hop.Addr())
		if err != nil {
			class := rawcache.ClassConnect
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				class = rawcache.ClassTimeout
			}
			return nil, &rawcache.Failure{Class: class, Message: fmt.Sprintf("connecting to %s %s: %v", what, hop.Addr(), err)}
		}
		return conn, nil
	}
	// The SSH client's Dial has no deadline of its own.
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() { c, err := via.Dial("tcp", hop.Addr()); done <- result{c, err} }()
	timer := time.NewTimer(hop.Timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, &rawcache.Failure{Class: rawcache.ClassConnect, Message: fmt.Sprintf("the jump host could not reach %s %s: %v", what, hop.Addr(), r.err)}
		}
		return r.c, nil
	case <-timer.C:
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, &rawcache.Failure{Class: rawcache.ClassTimeout, Message: fmt.Sprintf("the jump host did not reach %s %s within %s", what, hop.Addr(), hop.Timeout)}
	}
}

// handshake runs SSH over conn: host key check, then login.
func handshake(conn net.Conn, hop inventory.Endpoint, what string) (*ssh.Client, *rawcache.Failure) {
	var hostKeyErr error
	var presented ssh.PublicKey
	var check ssh.HostKeyCallback
	if hop.InsecureIgnoreHostKey {
		check = ssh.InsecureIgnoreHostKey()
	} else {
		kh, err := knownhosts.New(hop.KnownHosts...)
		if err != nil {
			return nil, &rawcache.Failure{Class: rawcache.ClassHostKey, Message: "reading known_hosts: " + err.Error()}
		}
		check = func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := kh(host, remote, key)
			hostKeyErr, presented = err, key
			return err
		}
	}
	var auth []ssh.AuthMethod
	if hop.Key != nil {
		auth = append(auth, ssh.PublicKeys(hop.Key))
	}
	if !hop.Password.IsZero() {
		pw := hop.Password.Reveal()
		auth = append(auth, ssh.Password(pw),
			// Many network devices ask for the password this way instead.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	cfg := &ssh.ClientConfig{User: hop.Username, Auth: auth, HostKeyCallback: check, Timeout: hop.Timeout}
	// The handshake has no deadline through a jump host: a timer closes
	// the connection instead, which ends it with an error.
	var timedOut atomic.Bool
	timer := time.AfterFunc(hop.Timeout, func() { timedOut.Store(true); conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, hop.Addr(), cfg)
	timer.Stop()
	if err == nil {
		return ssh.NewClient(c, chans, reqs), nil
	}
	var keyErr *knownhosts.KeyError
	switch {
	case hostKeyErr != nil && errors.As(hostKeyErr, &keyErr) && len(keyErr.Want) == 0:
		return nil, &rawcache.Failure{Class: rawcache.ClassHostKey, Message: fmt.Sprintf("%s %s: host key %s is not in known_hosts (%s)", what, hop.Addr(), ssh.FingerprintSHA256(presented), strings.Join(hop.KnownHosts, ", "))}
	case hostKeyErr != nil && errors.As(hostKeyErr, &keyErr):
		return nil, &rawcache.Failure{Class: rawcache.ClassHostKey, Message: fmt.Sprintf("%s %s: host key changed: %v", what, hop.Addr(), hostKeyErr)}
	case hostKeyErr != nil:
		return nil, &rawcache.Failure{Class: rawcache.ClassHostKey, Message: fmt.Sprintf("%s %s: %v", what, hop.Addr(), hostKeyErr)}
	case timedOut.Load():
		return nil, &rawcache.Failure{Class: rawcache.ClassTimeout, Message: fmt.Sprintf("no SSH handshake from %s %s within %s", what, hop.Addr(), hop.Timeout)}
	case strings.Contains(err.Error(), "unable to authenticate"):
		return nil, &rawcache.Failure{Class: rawcache.ClassAuth, Message: fmt.Sprintf("%s %s refused the credentials of %s", what, hop.Addr(), hop.Username)}
	}
	return nil, &rawcache.Failure{Class: rawcache.ClassConnect, Message: fmt.Sprintf("SSH with %s %s: %v", what, hop.Addr(), err)}
}
