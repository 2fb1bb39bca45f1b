package parse

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sirikothe/gotextfsm"
)

// Screen text is parsed with the TextFSM templates of ntc-templates (the
// PyPI package, installed by the build, not kept in this repository),
// chosen through the package's own index file as its Python wrapper
// (textfsm's CliTable) chooses them: the first row whose platform and
// command expressions match from the start, with "sh[[ow]]" standing for
// "sh", "sho" or "show".

// NTCTemplatesEnv names the variable that points meshq parse at the
// templates directory of ntc-templates (the directory holding its index
// file).
const NTCTemplatesEnv = "MESHQ_NTC_TEMPLATES"

// DefaultNTCTemplates is where `make deps` (scripts/ntc-templates.sh)
// installs the templates, relative to the repository root.
const DefaultNTCTemplates = "var/ntc-templates/templates"

// Options tune a parse.
type Options struct {
	// NTCTemplates is the templates directory of ntc-templates; empty is
	// DefaultNTCTemplates.
	NTCTemplates string
}

// templatePlatforms are the ntc-templates platforms tried, in order, for
// a device type where they are not the device type itself. IOS XE has no
// templates of its own: its show commands print as IOS's do. FTD's CLI
// runs the ASA (LINA) commands; ntc-templates has a few FTD templates and
// the ASA's for the rest.
var templatePlatforms = map[string][]string{
	"cisco_xe":  {"cisco_ios"},
	"cisco_ftd": {"cisco_ftd", "cisco_asa"},
}

// templates is one ntc-templates directory, its index read on first use
// so that a cache without screen text needs no templates at all.
type templates struct {
	dir    string
	loaded bool
	err    error
	rows   []indexRow
}

type indexRow struct {
	line     int
	files    []string
	platform *regexp.Regexp
	command  *regexp.Regexp
	// commandErr says why command is nil: the index is written for
	// Python's re, and a few rows use what Go's RE2 lacks (look-ahead).
	commandErr error
}

func newTemplates(dir string) *templates {
	if dir == "" {
		dir = DefaultNTCTemplates
	}
	return &templates{dir: dir}
}

// completion is the index's shorthand for a command's optional tail:
// "sh[[ow]]" is "sh(o(w)?)?".
var completion = regexp.MustCompile(`\[\[(.+?)\]\]`)

func expandCompletion(s string) string {
	return completion.ReplaceAllStringFunc(s, func(m string) string {
		word := []rune(m[2 : len(m)-2])
		var b strings.Builder
		b.WriteByte('(')
		for i, r := range word {
			if i > 0 {
				b.WriteByte('(')
			}
			b.WriteRune(r)
		}
		b.WriteString(strings.Repeat(")?", len(word)))
		return b.String()
	})
}

func (t *templates) load() error {
	if t.loaded {
		return t.err
	}
	t.loaded = true
	t.err = t.readIndex()
	return t.err
}

func (t *templates) readIndex() error {
	path := filepath.Join(t.dir, "index")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the ntc-templates templates are not installed: no index file in %s (set %s to the templates directory of the ntc-templates package; make run and make test install it in %s)",
			t.dir, NTCTemplatesEnv, DefaultNTCTemplates)
	}
	if err != nil {
		return fmt.Errorf("reading the ntc-templates index (%s): %w", NTCTemplatesEnv, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, header := 0, false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, ",", 4)
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !header {
			if len(fields) != 4 || fields[0] != "Template" || fields[2] != "Platform" || fields[3] != "Command" {
				return fmt.Errorf("%s line %d: not the ntc-templates index header (Template, Hostname, Platform, Command)", path, n)
			}
			header = true
			continue
		}
		if len(fields) != 4 {
			return fmt.Errorf("%s line %d: want 4 comma-separated fields, got %d", path, n, len(fields))
		}
		// Python's re.match anchors at the start only.
		platform, err := regexp.Compile(`^(?:` + fields[2] + `)`)
		if err != nil {
			return fmt.Errorf("%s line %d: platform %q: %v", path, n, fields[2], err)
		}
		row := indexRow{line: n, files: strings.Split(fields[0], ":"), platform: platform}
		row.command, row.commandErr = regexp.Compile(`^(?:` + expandCompletion(fields[3]) + `)`)
		t.rows = append(t.rows, row)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if !header {
		return fmt.Errorf("%s: empty ntc-templates index", path)
	}
	return nil
}

// lookup returns the template file for a command on one of the
// platforms, tried in order.
func (t *templates) lookup(platforms []string, command string) (string, error) {
	if err := t.load(); err != nil {
		return "", err
	}
	command = strings.Join(strings.Fields(command), " ")
	for _, p := range platforms {
		for _, r := range t.rows {
			if !r.platform.MatchString(p) {
				continue
			}
			if r.commandErr != nil {
				// This row might be the one CliTable would pick.
				return "", fmt.Errorf("the ntc-templates index (line %d) has a %s command expression Go cannot read, so the template for %q cannot be told: %v", r.line, p, command, r.commandErr)
			}
			if !r.command.MatchString(command) {
				continue
			}
			if len(r.files) != 1 {
				// CliTable joins several templates' tables on their Key
				// values; no command meshq collects needs that.
				return "", fmt.Errorf("the ntc-templates index (line %d) gives several templates for %q, which meshq parse does not join", r.line, command)
			}
			return r.files[0], nil
		}
	}
	return "", fmt.Errorf("ntc-templates has no template for %q on %s", command, strings.Join(platforms, " or "))
}

// record is one row of a TextFSM table: each value a string, or a list of
// strings for List values.
type record map[string]any

// str returns a value trimmed, "" when absent.
func (r record) str(name string) string {
	switch v := r[name].(type) {
	case string:
		return strings.TrimSpace(v)
	case []string:
		return strings.TrimSpace(strings.Join(v, " "))
	}
	return ""
}

// list returns a List value (a scalar as a list of one).
func (r record) list(name string) []string {
	switch v := r[name].(type) {
	case []string:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, strings.TrimSpace(s))
		}
		return out
	case string:
		if s := strings.TrimSpace(v); s != "" {
			return []string{s}
		}
	}
	return nil
}

// table parses data with the template ntc-templates gives for command on
// the platforms, returning the template's file name with its rows.
func (t *templates) table(platforms []string, command string, data []byte) (string, []record, error) {
	file, err := t.lookup(platforms, command)
	if err != nil {
		return "", nil, err
	}
	src, err := os.ReadFile(filepath.Join(t.dir, file))
	if err != nil {
		return file, nil, fmt.Errorf("reading template %s: %w", file, err)
	}
	// A template holds its values' state while it parses, so each output
	// gets a freshly compiled one.
	var fsm gotextfsm.TextFSM
	if err := fsm.ParseString(string(src)); err != nil {
		return file, nil, fmt.Errorf("template %s does not compile here: %v", file, err)
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	var out gotextfsm.ParserOutput
	if err := out.ParseTextString(text, fsm, true); err != nil {
		return file, nil, fmt.Errorf("template %s rejects the output: %s", file, oneLine(err.Error()))
	}
	rows := make([]record, len(out.Dict))
	for i, d := range out.Dict {
		rows[i] = record(d)
	}
	return file, rows, nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// cliErrors are the first words of the answers devices give to a command
// they refuse, which no template reads as a table.
var cliErrors = []string{
	"% ", "%Error", "%Invalid", "ERROR: %", "ERROR: Command", // IOS, ASA, ArubaOS
	"Command fail.", "Unknown action", // FortiOS
	"Invalid syntax.", "Unknown command:", "Server error", // PAN-OS
	"CLINFR", // Gaia clish
}

// cliError returns the first line of data when it is a refusal.
func cliError(data []byte) (string, bool) {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		for _, p := range cliErrors {
			if strings.HasPrefix(line, p) {
				return line, true
			}
		}
		return "", false
	}
	return "", false
}

// textParser turns a function over a command's TextFSM table into a
// parser of its screen text.
func textParser(fn func(b *builder, rows []record) error) parseFunc {
	return func(b *builder, data []byte) error {
		rows, err := b.table(data)
		if err != nil {
			return err
		}
		return fn(b, rows)
	}
}

// table parses screen text of the current command with its template.
func (b *builder) table(data []byte) ([]record, error) {
	if line, ok := cliError(data); ok {
		return nil, fmt.Errorf("the device refused the command: %q", clipText(line))
	}
	platforms := templatePlatforms[b.deviceType]
	if platforms == nil {
		platforms = []string{b.deviceType}
	}
	_, rows, err := b.text.table(platforms, b.command, data)
	return rows, err
}

func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
