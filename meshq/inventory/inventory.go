// Package inventory reads the device inventory `meshq collect` connects to
// (inventory.yaml): the devices, how to log in to each (password or key,
// enable secret, port, timeout), how to check their host keys, which jump
// hosts lead to them, and defaults shared by groups of devices.
//
//	known_hosts: known_hosts              # default for every device (relative to this file)
//	defaults:                             # under every group and device
//	  username: netops
//	  password: "{{ env.NET_PASSWORD }}"
//	groups:
//	  edge:
//	    device_type: cisco_ios
//	    secret: "{{ env.EDGE_ENABLE }}"
//	    jump_host: bastion
//	jump_hosts:
//	  bastion:
//	    host: bastion.example.net
//	    username: jump
//	    key_file: ~/.ssh/id_ed25519
//	    key_passphrase: "{{ env.JUMP_KEY_PASSPHRASE }}"
//	devices:
//	  - hostname: edge-1
//	    host: 192.0.2.1
//	    group: edge
//
// A value is taken from the device, else its group, else defaults, else
// the built-in default (port 22, timeout 30s). Secrets (password, secret,
// key_passphrase) are held as [Secret], which never prints its value, and
// no error of this package contains one.
package inventory

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// Built-in defaults.
const (
	DefaultPort    = 22
	DefaultTimeout = 30 * time.Second
)

// Secret is a credential. It prints, logs and marshals as "[redacted]";
// only Reveal gives its value, for the SSH handshake.
type Secret struct{ v string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps JSON from carrying the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Endpoint is one SSH login: a device, or a jump host on the way to one.
type Endpoint struct {
	// Name is how messages name it: the device's hostname or the jump
	// host's name in jump_hosts.
	Name     string
	Host     string
	Port     int
	Username string
	Password Secret
	KeyFile  string
	// Key is KeyFile's private key, decrypted; nil without a key file.
	Key ssh.Signer
	// KnownHosts are the files host keys are checked against (empty only
	// when InsecureIgnoreHostKey is set).
	KnownHosts            []string
	InsecureIgnoreHostKey bool
	// Timeout bounds the connection and each answer awaited from it.
	Timeout time.Duration
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Device is one device to collect, every value resolved.
type Device struct {
	Endpoint
	// Index is the device's position in devices:, for messages.
	Index      int
	Group      string
	DeviceType string
	Platform   platform.Platform
	// Secret is the enable secret; empty means the login password.
	Secret Secret
	// Jumps are the jump hosts, the first one dialled first.
	Jumps []Endpoint
}

// Inventory is a loaded, valid inventory.
type Inventory struct {
	Devices []Device
}

// settings are the values a device, a group or defaults may give. Pointers
// tell an absent value from an empty one.
type settings struct {
	DeviceType            *string `yaml:"device_type"`
	Username              *string `yaml:"username"`
	Password              *string `yaml:"password"`
	Secret                *string `yaml:"secret"`
	Port                  any     `yaml:"port"`
	Timeout               any     `yaml:"timeout"`
	KeyFile               *string `yaml:"key_file"`
	KeyPassphrase         *string `yaml:"key_passphrase"`
	KnownHosts            *string `yaml:"known_hosts"`
	InsecureIgnoreHostKey *bool   `yaml:"insecure_ignore_host_key"`
	JumpHost              *string `yaml:"jump_host"`
}

type deviceEntry struct {
	Hostname string `yaml:"hostname"`
	Host     string `yaml:"host"`
	Group    string `yaml:"group"`
	settings `yaml:",inline"`
}

type jumpEntry struct {
	Host                  string  `yaml:"host"`
	Username              *string `yaml:"username"`
	Password              *string `yaml:"password"`
	Port                  any     `yaml:"port"`
	Timeout               any     `yaml:"timeout"`
	KeyFile               *string `yaml:"key_file"`
	KeyPassphrase         *string `yaml:"key_passphrase"`
	KnownHosts            *string `yaml:"known_hosts"`
	InsecureIgnoreHostKey *bool   `yaml:"insecure_ignore_host_key"`
	JumpHost              *string `yaml:"jump_host"`
}

type file struct {
	KnownHosts            *string              `yaml:"known_hosts"`
	InsecureIgnoreHostKey *bool                `yaml:"insecure_ignore_host_key"`
	Defaults              settings             `yaml:"defaults"`
	Groups                map[string]settings  `yaml:"groups"`
	JumpHosts             map[string]jumpEntry `yaml:"jump_hosts"`
	Devices               []deviceEntry        `yaml:"devices"`
}

// Load reads and validates an inventory file. Relative paths in it
// (key_file, known_hosts) are relative to the file's directory; "~/" is
// $HOME. getenv resolves {{ env.NAME }}.
func Load(path string, getenv func(string) string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	inv, err := Parse(data, filepath.Dir(path), getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// Parse validates an inventory document; dir is where relative paths
// start. Every problem is reported at once, each naming its entry and
// field; nothing is returned unless all of it is valid.
func Parse(data []byte, dir string, getenv func(string) string) (*Inventory, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("inventory is not valid YAML of the inventory format: %w", err)
	}
	r := &resolver{dir: dir, getenv: getenv, keys: map[string]ssh.Signer{}, known: map[string]error{}}
	return r.resolve(&f)
}

type resolver struct {
	dir    string
	getenv func(string) string
	errs   []error
	keys   map[string]ssh.Signer // key_file+passphrase → parsed key
	known  map[string]error      // known_hosts file → its parse result
}

func (r *resolver) addf(entry, field, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s: %s", entry, field, fmt.Sprintf(format, args...)))
}

// level is one level's settings with templates resolved.
type level struct {
	name string // for messages: "defaults", "groups.edge", "devices[3] (edge-1)"
	s    settings
}

func (r *resolver) resolve(f *file) (*Inventory, error) {
	if len(f.Devices) == 0 {
		r.errs = append(r.errs, errors.New("devices: no devices"))
	}
	global := settings{KnownHosts: f.KnownHosts, InsecureIgnoreHostKey: f.InsecureIgnoreHostKey}
	defaults := r.templated(level{"defaults", f.Defaults})
	groups := map[string]level{}
	for _, name := range sortedKeys(f.Groups) {
		groups[name] = r.templated(level{"groups." + name, f.Groups[name]})
	}
	jumps := map[string]*jumpResult{}
	for _, name := range sortedKeys(f.JumpHosts) {
		jumps[name] = &jumpResult{}
	}
	for _, name := range sortedKeys(f.JumpHosts) {
		r.jump(name, f, global, defaults, jumps, nil)
	}

	inv := &Inventory{}
	seen := map[string]int{}
	for i, e := range f.Devices {
		name := fmt.Sprintf("devices[%d]", i)
		if e.Hostname != "" {
			name += " (" + e.Hostname + ")"
		}
		d := Device{Index: i, Group: e.Group}
		d.Name, d.Host = e.Hostname, e.Host
		errsBefore := len(r.errs)
		switch err := rawcache.CheckHostname(e.Hostname); {
		case e.Hostname == "":
			r.addf(name, "hostname", "required")
		case err != nil:
			r.addf(name, "hostname", "%v", err)
		default:
			if j, dup := seen[e.Hostname]; dup {
				r.addf(name, "hostname", "%q is also devices[%d]", e.Hostname, j)
			}
			seen[e.Hostname] = i
		}
		if e.Host == "" {
			r.addf(name, "host", "required")
		}
		levels := []level{{"inventory", global}, defaults}
		if e.Group != "" {
			g, ok := groups[e.Group]
			if !ok {
				r.addf(name, "group", "no group %q in groups", e.Group)
			} else {
				levels = append(levels, g)
			}
		}
		levels = append(levels, r.templated(level{name, e.settings}))
		m := merge(levels)
		d.DeviceType = deref(m.DeviceType)
		if d.DeviceType == "" {
			r.addf(name, "device_type", "required (one of %s)", strings.Join(platform.DeviceTypes(), ", "))
		} else if p, err := platform.Lookup(d.DeviceType); err != nil {
			r.addf(name, "device_type", "%v", err)
		} else {
			d.Platform = p
		}
		d.Secret = NewSecret(deref(m.Secret))
		r.endpoint(name, &d.Endpoint, m)
		if jh := deref(m.JumpHost); jh != "" {
			j, ok := jumps[jh]
			switch {
			case !ok:
				r.addf(name, "jump_host", "no jump host %q in jump_hosts", jh)
			case j.ok:
				d.Jumps = j.chain
			}
		}
		if len(r.errs) == errsBefore {
			inv.Devices = append(inv.Devices, d)
		}
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return inv, nil
}

type jumpResult struct {
	done, ok bool
	chain    []Endpoint
}

// jump resolves a jump host and the chain of jump hosts before it.
func (r *resolver) jump(name string, f *file, global settings, defaults level, jumps map[string]*jumpResult, path []string) *jumpResult {
	res := jumps[name]
	if res.done {
		return res
	}
	entry := "jump_hosts." + name
	for _, p := range path {
		if p == name {
			r.addf(entry, "jump_host", "loop: %s", strings.Join(append(path, name), " → "))
			res.done = true
			return res
		}
	}
	j := f.JumpHosts[name]
	own := r.templated(level{entry, settings{Username: j.Username, Password: j.Password, Port: j.Port, Timeout: j.Timeout,
		KeyFile: j.KeyFile, KeyPassphrase: j.KeyPassphrase, KnownHosts: j.KnownHosts,
		InsecureIgnoreHostKey: j.InsecureIgnoreHostKey, JumpHost: j.JumpHost}})
	// A jump host takes the inventory's host-key settings and the
	// defaults' timeout, not the devices' credentials.
	m := merge([]level{{"inventory", global}, {"defaults", settings{Timeout: defaults.s.Timeout}}, own})
	before := len(r.errs)
	e := Endpoint{Name: name, Host: j.Host}
	if j.Host == "" {
		r.addf(entry, "host", "required")
	}
	r.endpoint(entry, &e, m)
	var chain []Endpoint
	prevOK := true
	if prev := deref(j.JumpHost); prev != "" {
		if _, ok := jumps[prev]; !ok {
			r.addf(entry, "jump_host", "no jump host %q in jump_hosts", prev)
		} else if p := r.jump(prev, f, global, defaults, jumps, append(path, name)); p.ok {
			chain = append(chain, p.chain...)
		} else {
			prevOK = false // the earlier hop's problem is reported with it
		}
	}
	res.done = true
	res.ok = prevOK && len(r.errs) == before
	res.chain = append(chain, e)
	return res
}

var templateRE = regexp.MustCompile(`\{\{(.*?)\}\}`)
var envRE = regexp.MustCompile(`^\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// templated resolves {{ env.NAME }} in a level's credentials.
func (r *resolver) templated(l level) level {
	for field, p := range map[string]**string{"username": &l.s.Username, "password": &l.s.Password,
		"secret": &l.s.Secret, "key_passphrase": &l.s.KeyPassphrase} {
		if *p == nil {
			continue
		}
		v, ok := r.expand(l.name, field, **p)
		if !ok {
			// Reported; a stand-in keeps "password required" and the like
			// from reporting the same problem again. Never used: Parse
			// fails.
			v = "(invalid)"
		}
		*p = &v
	}
	return l
}

func (r *resolver) expand(entry, field, s string) (string, bool) {
	ok := true
	out := templateRE.ReplaceAllStringFunc(s, func(t string) string {
		m := envRE.FindStringSubmatch(templateRE.FindStringSubmatch(t)[1])
		if m == nil {
			// The template text is not a secret: it is what the user wrote
			// around a variable name. Say only which form is understood.
			r.addf(entry, field, "unsupported template; only {{ env.NAME }} is understood")
			ok = false
			return ""
		}
		v := r.getenv(m[1])
		if v == "" {
			r.addf(entry, field, "environment variable %s is not set", m[1])
			ok = false
		}
		return v
	})
	return out, ok
}

// endpoint fills the login values of e from merged settings.
func (r *resolver) endpoint(entry string, e *Endpoint, m settings) {
	e.Username = deref(m.Username)
	if e.Username == "" {
		r.addf(entry, "username", "required")
	}
	e.Password = NewSecret(deref(m.Password))
	e.Port = DefaultPort
	if m.Port != nil {
		n, ok := m.Port.(int)
		if !ok || n < 1 || n > 65535 {
			r.addf(entry, "port", "%v is not a TCP port (1-65535)", m.Port)
		} else {
			e.Port = n
		}
	}
	e.Timeout = DefaultTimeout
	if m.Timeout != nil {
		if d, err := parseTimeout(m.Timeout); err != nil {
			r.addf(entry, "timeout", "%v", err)
		} else {
			e.Timeout = d
		}
	}
	if kf := deref(m.KeyFile); kf != "" {
		e.KeyFile = r.path(kf)
		if key, err := r.key(e.KeyFile, deref(m.KeyPassphrase)); err != nil {
			r.addf(entry, "key_file", "%v", err)
		} else {
			e.Key = key
		}
	}
	if e.Password.IsZero() && e.KeyFile == "" {
		r.addf(entry, "password", "neither password nor key_file given")
	}
	e.InsecureIgnoreHostKey = m.InsecureIgnoreHostKey != nil && *m.InsecureIgnoreHostKey
	if e.InsecureIgnoreHostKey {
		return
	}
	kh := deref(m.KnownHosts)
	field := "known_hosts"
	if kh == "" {
		home := r.getenv("HOME")
		if home == "" {
			r.addf(entry, field, "not given and $HOME is not set; name a known_hosts file or set insecure_ignore_host_key: true")
			return
		}
		kh = filepath.Join(home, ".ssh", "known_hosts")
	} else {
		kh = r.path(kh)
	}
	if err := r.knownHosts(kh); err != nil {
		r.addf(entry, field, "%v (host keys are verified; set insecure_ignore_host_key: true to skip that)", err)
		return
	}
	e.KnownHosts = []string{kh}
}

func (r *resolver) knownHosts(path string) error {
	if err, ok := r.known[path]; ok {
		return err
	}
	_, err := knownhosts.New(path)
	r.known[path] = err
	return err
}

func (r *resolver) key(path, passphrase string) (ssh.Signer, error) {
	cacheKey := path + "\x00" + passphrase
	if k, ok := r.keys[cacheKey]; ok {
		return k, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var key ssh.Signer
	if passphrase != "" {
		key, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("%s: key_passphrase does not decrypt it", path)
		}
	} else {
		key, err = ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%s is encrypted; give key_passphrase", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.keys[cacheKey] = key
	return key, nil
}

func (r *resolver) path(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return filepath.Join(r.getenv("HOME"), rest)
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.dir, p)
}

// parseTimeout takes seconds (Netmiko's form) or a Go duration ("90s").
func parseTimeout(v any) (time.Duration, error) {
	var d time.Duration
	switch t := v.(type) {
	case int:
		d = time.Duration(t) * time.Second
	case float64:
		d = time.Duration(t * float64(time.Second))
	case string:
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return 0, fmt.Errorf("%q is neither seconds nor a duration such as 90s", t)
		}
	default:
		return 0, fmt.Errorf("%v is neither seconds nor a duration such as 90s", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%v is not positive", v)
	}
	return d, nil
}

// merge takes each value from the last level that gives it.
func merge(levels []level) settings {
	var m settings
	for _, l := range levels {
		s := l.s
		pick(&m.DeviceType, s.DeviceType)
		pick(&m.Username, s.Username)
		pick(&m.Password, s.Password)
		pick(&m.Secret, s.Secret)
		pick(&m.KeyFile, s.KeyFile)
		pick(&m.KeyPassphrase, s.KeyPassphrase)
		pick(&m.KnownHosts, s.KnownHosts)
		pick(&m.JumpHost, s.JumpHost)
		if s.InsecureIgnoreHostKey != nil {
			m.InsecureIgnoreHostKey = s.InsecureIgnoreHostKey
		}
		if s.Port != nil {
			m.Port = s.Port
		}
		if s.Timeout != nil {
			m.Timeout = s.Timeout
		}
	}
	return m
}

func pick(dst **string, src *string) {
	if src != nil {
		*dst = src
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
