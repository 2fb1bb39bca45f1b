// Package envconf reads a daemon's environment into typed values and
// collects every problem, so a daemon can report all of them at once and
// refuse to start with a message that names each variable.
package envconf

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through a getenv function (os.Getenv in main, a
// map in tests) and remembers each parse error.
type Reader struct {
	getenv func(string) string
	errs   []error
	vars   []Var
	seen   map[string]bool
}

// Var is a variable a daemon reads, with its default as the operator
// would write it ("" when unset means off or none).
type Var struct {
	Name    string
	Default string
}

// New returns a Reader over getenv.
func New(getenv func(string) string) *Reader {
	r := &Reader{getenv: getenv, seen: map[string]bool{}}
	describing.add(r)
	return r
}

// note records that name is read, with its default, the first time.
func (r *Reader) note(name, def string) {
	if !r.seen[name] {
		r.seen[name] = true
		r.vars = append(r.vars, Var{Name: name, Default: def})
	}
}

// Vars lists the variables read so far, in the order they were read.
func (r *Reader) Vars() []Var { return r.vars }

// Errorf records a problem found while validating, naming the variable.
func (r *Reader) Errorf(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Err joins every recorded problem; nil when there were none.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Lookup returns the trimmed value and whether it is set and non-empty. A
// value still holding a placeholder of the example manifests
// ("replace-with-…", k8s/secrets.example.yaml) is an error: a pod applied
// with the example Secret must not start on a guessable key.
func (r *Reader) Lookup(name string) (string, bool) {
	r.note(name, "")
	v := strings.TrimSpace(r.getenv(name))
	if strings.Contains(strings.ToLower(v), PlaceholderMark) {
		r.Errorf(name, "still holds the example placeholder (%s…); set the real value", PlaceholderMark)
		return "", false
	}
	return v, v != ""
}

// PlaceholderMark begins every placeholder in the example manifests.
const PlaceholderMark = "replace-with-"

// String returns the value or def when unset.
func (r *Reader) String(name, def string) string {
	r.note(name, def)
	if v, ok := r.Lookup(name); ok {
		return v
	}
	return def
}

// Required returns the value and records an error when it is unset.
func (r *Reader) Required(name string) string {
	r.note(name, "(required)")
	v, ok := r.Lookup(name)
	if !ok {
		r.Errorf(name, "required but not set")
	}
	return v
}

// Enum returns the value (lower-cased) when it is one of allowed, else
// records an error and returns def.
func (r *Reader) Enum(name, def string, allowed ...string) string {
	r.note(name, def+" (one of "+strings.Join(allowed, ", ")+")")
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.Errorf(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// Bool accepts true/false/1/0/yes/no/on/off.
func (r *Reader) Bool(name string, def bool) bool {
	r.note(name, strconv.FormatBool(def))
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.Errorf(name, "%q is not a boolean (true or false)", v)
	return def
}

// Int parses a base-10 integer within [min, max].
func (r *Reader) Int(name string, def, min, max int) int {
	r.note(name, fmt.Sprintf("%d (%d..%d)", def, min, max))
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Errorf(name, "%q is not an integer", v)
		return def
	}
	if n < min || n > max {
		r.Errorf(name, "%d is outside %d..%d", n, min, max)
		return def
	}
	return n
}

// Bytes parses a size such as 1048576, 512KiB, 10MiB, 1GiB (also KB, MB, GB
// as powers of 1024, as operators write them).
func (r *Reader) Bytes(name string, def int64) int64 {
	r.note(name, formatBytes(def))
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil {
		r.Errorf(name, "%v", err)
		return def
	}
	return n
}

// ParseBytes parses a byte size with an optional binary suffix.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 10MiB)", s)
	}
	return n * mult, nil
}

// Duration parses a Go duration ("30s", "5m"); a bare number is taken in
// defaultUnit, since operators write RBAC_RELOAD_INTERVAL=30 as the seeds do.
func (r *Reader) Duration(name string, def, defaultUnit time.Duration) time.Duration {
	r.note(name, def.String())
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n < 0 {
			r.Errorf(name, "%q is negative", v)
			return def
		}
		return time.Duration(n * float64(defaultUnit))
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Errorf(name, "%q is not a duration (e.g. 30s, 5m)", v)
		return def
	}
	return d
}

// List splits a comma- (or space-) separated value into trimmed items.
func (r *Reader) List(name string, def []string) []string {
	r.note(name, strings.Join(def, ","))
	v, ok := r.Lookup(name)
	if !ok {
		return def
	}
	return strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' })
}

// Prefixes parses a list of CIDRs or bare IPs (taken as /32 or /128).
func (r *Reader) Prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range r.List(name, nil) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			r.Errorf(name, "%q is not an IP address or CIDR", item)
			continue
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

// Listen validates a listen address: "host:port", ":port" or "unix:/path".
func (r *Reader) Listen(name, def string) string {
	v := r.String(name, def)
	if err := ValidateListen(v); err != nil {
		r.Errorf(name, "%v", err)
		return def
	}
	return v
}

// OptionalListen is Listen for an address that may be left unset ("").
func (r *Reader) OptionalListen(name string) string {
	if r.String(name, "") == "" {
		return ""
	}
	return r.Listen(name, "")
}

// ValidateListen checks "host:port", ":port" or "unix:/path".
func ValidateListen(v string) error {
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" {
			return fmt.Errorf("%q names no socket path", v)
		}
		return nil
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return fmt.Errorf("%q is not host:port, :port or unix:/path", v)
	}
	port, err := strconv.Atoi(v[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

// Secret is a string that never prints: use it for tokens and keys so that
// logging a config struct cannot leak them.
type Secret string

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue redacts the value in slog output: it implements slog.LogValuer,
// so logging a Secret directly, or a struct attribute holding one, prints
// "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString redacts the value for %#v too.
func (s Secret) GoString() string { return s.String() }

// ParseLevel maps LOG_LEVEL values (DEBUG, INFO, WARNING, WARN, ERROR,
// CRITICAL; any case; empty is INFO) to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR", "CRITICAL":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not DEBUG, INFO, WARNING or ERROR", s)
}

// LogLevel reads LOG_LEVEL (default INFO), the one reader every daemon uses.
func (r *Reader) LogLevel() slog.Level {
	r.note("LOG_LEVEL", "INFO (one of DEBUG, INFO, WARNING, ERROR)")
	lvl, err := ParseLevel(r.getenv("LOG_LEVEL"))
	if err != nil {
		r.Errorf("LOG_LEVEL", "%v", err)
		return slog.LevelInfo
	}
	return lvl
}

// RedisURL reads REDIS_URL (default unset), the one reader every daemon
// uses: a redis://, rediss:// or unix:// URL, as go-redis' ParseURL takes.
func (r *Reader) RedisURL() Secret {
	r.note("REDIS_URL", "")
	v, _ := r.Lookup("REDIS_URL")
	if err := ValidateRedisURL(v); err != nil {
		r.Errorf("REDIS_URL", "%v", err)
		return ""
	}
	return Secret(v)
}

// ValidateRedisURL accepts "" (unset) and redis://, rediss:// or unix://
// URLs that parse.
func ValidateRedisURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a URL (want redis://, rediss:// or unix://)")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return errors.New("names no host")
		}
	case "unix":
		if u.Path == "" {
			return errors.New("unix:// names no socket path")
		}
	default:
		return errors.New("must start with redis://, rediss:// or unix://")
	}
	return nil
}

// RedactURL hides a URL's user info (user and password) and any password
// query parameter, keeping scheme, host and path; "" and unix:/path (no
// "//") pass through, and anything unparseable is hidden whole.
func RedactURL(s string) string {
	if s == "" || (strings.HasPrefix(s, "unix:") && !strings.HasPrefix(s, "unix://")) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "[redacted: unparseable URL]"
	}
	scheme, rest, _ := strings.Cut(s, "://")
	if u.User != nil {
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			rest = "[redacted]@" + rest[at+1:]
		}
	}
	if q := u.Query(); q.Has("password") {
		base, _, _ := strings.Cut(rest, "?")
		q.Set("password", "redacted")
		rest = base + "?" + q.Encode()
	}
	return scheme + "://" + rest
}

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// formatBytes writes n as ParseBytes reads it, in the largest exact unit.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
