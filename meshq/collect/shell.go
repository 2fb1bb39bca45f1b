package collect

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// shell is an interactive CLI session read the way a person at a terminal
// reads it: wait for the prompt, send a line, wait for the prompt again.
type shell struct {
	stdin   io.Writer
	timeout time.Duration
	ctx     context.Context

	mu     sync.Mutex
	buf    []byte
	notify chan struct{} // a write arrived
	closed chan struct{} // the session ended
	prompt *regexp.Regexp
}

func newShell(ctx context.Context, stdin io.Writer, timeout time.Duration) *shell {
	return &shell{ctx: ctx, stdin: stdin, timeout: timeout, notify: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Write receives the device's output (stdout and stderr both).
func (s *shell) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *shell) send(line string) error {
	if _, err := io.WriteString(s.stdin, line); err != nil {
		return &rawcache.Failure{Class: rawcache.ClassDropped, Message: "writing to the session: " + err.Error()}
	}
	return nil
}

// matcher looks at the line being written (the text after the last
// newline, as a terminal shows it) and says which pattern it is, or -1.
type matcher func(last string) int

// expect waits until m matches the last line, and takes everything up to
// that point out of the buffer. It fails with timeout when nothing matches
// in time, and with dropped when the session ends first.
func (s *shell) expect(step string, m matcher) (string, int, error) {
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		text := string(s.buf)
		i := strings.LastIndexByte(text, '\n')
		which := m(screenLine(text[i+1:]))
		if which >= 0 {
			s.buf = s.buf[:0]
		}
		s.mu.Unlock()
		if which >= 0 {
			return text, which, nil
		}
		select {
		case <-s.notify:
		case <-s.closed:
			// One last look: the final bytes may have come with the end.
			s.mu.Lock()
			text := string(s.buf)
			s.mu.Unlock()
			if j := strings.LastIndexByte(text, '\n'); m(screenLine(text[j+1:])) >= 0 {
				s.buf = s.buf[:0]
				return text, m(screenLine(text[j+1:])), nil
			}
			return "", -1, &rawcache.Failure{Class: rawcache.ClassDropped, Message: "the device closed the session during " + step}
		case <-timer.C:
			return "", -1, &rawcache.Failure{Class: rawcache.ClassTimeout, Message: fmt.Sprintf("no answer to %s within %s", step, s.timeout)}
		case <-s.ctx.Done():
			return "", -1, &rawcache.Failure{Class: rawcache.ClassTimeout, Message: "cancelled during " + step}
		}
	}
}

// anyPrompt is the end of a prompt on any supported platform: IOS "r1#",
// Junos "admin@mx1> ", FortiOS "FGT # ", ArubaOS "(aruba) #", Linux "$".
var anyPrompt = regexp.MustCompile(`[>#$%]\s*$`)

// pagerRE is a pager line: " --More-- ", "---(more 45%)---",
// "<--- More --->", "-- More --", "lines 1-20 --more--",
// "--More-- (q) quit (u) pageup …".
var pagerRE = regexp.MustCompile(`(?i)^\s*(lines \d+-\d+\s*)?<?-+\s*\(?more\b[^-]*-+>?.*$`)

// findPrompt learns the device's prompt: the last line once output
// settles on something prompt-like, confirmed by a fresh one after a
// newline. It returns the prompt as seen.
func (s *shell) findPrompt() (string, error) {
	isPrompt := func(l string) int {
		if anyPrompt.MatchString(l) {
			return 0
		}
		return -1
	}
	if _, _, err := s.expect("the login banner and first prompt", isPrompt); err != nil {
		return "", err
	}
	if err := s.send("\n"); err != nil {
		return "", err
	}
	text, _, err := s.expect("a newline (prompt detection)", isPrompt)
	if err != nil {
		return "", err
	}
	p := lastLine(text)
	s.setPrompt(p)
	return p, nil
}

// setPrompt makes the prompt pattern from the prompt seen: the same text
// before the mode character, optionally a sub-mode in parentheses
// ("r1(config)#", "FGT (console) #"), and any of the mode characters (so
// enable mode's "#" after user mode's ">" is the same prompt).
func (s *shell) setPrompt(seen string) {
	base := strings.TrimRight(strings.TrimRight(strings.TrimSpace(seen), ">#$%"), " ")
	s.prompt = regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\s*(\([^)]*\))?\s*[>#$%]\s*$`)
}

// run sends one command and returns its output as a terminal shows it:
// the echoed command and the final prompt removed, pages joined, line
// ends "\n". It returns the last prompt seen too.
func (s *shell) run(cmd string) (string, string, error) {
	if err := s.send(cmd + "\n"); err != nil {
		return "", "", err
	}
	step := fmt.Sprintf("%q", cmd)
	m := func(l string) int {
		switch {
		case s.prompt.MatchString(l):
			return 0
		case pagerRE.MatchString(l):
			return 1
		}
		return -1
	}
	var raw strings.Builder
	for {
		text, which, err := s.expect(step, m)
		if err != nil {
			return "", "", err
		}
		cut := strings.LastIndexByte(text, '\n') + 1 // the prompt or pager line starts here
		raw.WriteString(text[:cut])
		if which == 0 {
			return clean(raw.String(), cmd), lastLine(text), nil
		}
		if err := s.send(" "); err != nil { // next page
			return "", "", err
		}
	}
}

// lastLine is the last line of text as shown, trimmed.
func lastLine(text string) string {
	return strings.TrimSpace(screenLine(text[strings.LastIndexByte(text, '\n')+1:]))
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]`)

// screenLine is what a terminal shows for one line of raw output: a
// carriage return goes back to the start and overwrites, a backspace
// steps back, escape sequences are dropped. Lines without either are
// returned as they are.
func screenLine(raw string) string {
	raw = strings.TrimSuffix(raw, "\r")
	raw = ansiRE.ReplaceAllString(raw, "")
	if !strings.ContainsAny(raw, "\r\b") {
		return raw
	}
	var line []rune
	col := 0
	for _, r := range raw {
		switch r {
		case '\r':
			col = 0
		case '\b':
			if col > 0 {
				col--
			}
		default:
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
		}
	}
	return strings.TrimRight(string(line), " ")
}

// clean turns a command's raw output into lines as shown, without the
// echo of the command on the first line.
func clean(raw, cmd string) string {
	lines := strings.Split(raw, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := range lines {
		lines[i] = screenLine(lines[i])
	}
	if len(lines) > 0 && strings.HasSuffix(strings.TrimSpace(lines[0]), cmd) {
		lines = lines[1:]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// rejectedRE is how the platforms refuse a command: IOS, EOS, NX-OS,
// ASA and ArubaOS "% Invalid input"/"% Invalid command", Junos "syntax
// error" and "unknown command", PAN-OS "Invalid syntax", FortiOS "Command
// fail", Gaia "Invalid command".
var rejectedRE = regexp.MustCompile(`(?i)^\s*(error:\s*)?(% ?(invalid|unknown|incomplete|ambiguous) (input|command)|syntax error|unknown command|invalid syntax|command fail\. return code|clinfr\d+\s+invalid command)`)

// rejection returns the line of out saying the device refused the command,
// looking only at the first lines, where a refusal is; "" if none.
func rejection(out string) string {
	lines := strings.SplitN(out, "\n", 6)
	if len(lines) > 5 {
		lines = lines[:5]
	}
	for _, l := range lines {
		if rejectedRE.MatchString(l) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
