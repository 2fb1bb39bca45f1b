// Package parse turns a raw cache written by `meshq collect` (see
// meshq/rawcache) into one meshq.facts/v1 document, and says per device and
// per command what it could not turn into facts.
//
// Each cached output is parsed by the parser of its device type and kind
// (platform.Kind), on its own: an output that cannot be parsed, or whose
// facts the facts format refuses, contributes nothing and is reported; an
// entry inside an output that cannot be read (a MAC that is not a MAC, a
// prefix without a length) is left out and reported. Nothing is guessed:
// a value the device did not give is left absent.
//
// Structured output (EOS and NX-OS JSON, Junos JSON or XML) is decoded
// directly; screen text (IOS, IOS XE, ASA, FTD, ArubaOS, PAN-OS, FortiOS,
// Gaia) goes through the TextFSM templates of ntc-templates, picked by the
// package's own index (textfsm.go). Firewall output is recognised by its
// content (PAN-OS XML, the Junos security configuration, FortiOS config
// blocks, ASA running configuration), whatever the device type says
// (firewall.go). A firewall object, group or rule joins the facts only
// when every name it uses resolves; the others are left out and reported.
package parse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

// Report says, per device, what was parsed and what was not.
type Report struct {
	Devices []DeviceReport `json:"devices"`
}

// DeviceReport is one device's part of the report.
type DeviceReport struct {
	Hostname   string `json:"hostname"`
	DeviceType string `json:"device_type"`
	// Error is why the device contributed nothing at all (collection
	// failed before any output, an unknown device type), or why its
	// collection stopped part way.
	Error *rawcache.Failure `json:"error,omitempty"`
	// Included says whether the device is in the document.
	Included bool `json:"included"`
	// Parsed lists the kinds whose output became facts (perhaps with
	// some entries left out, see Problems).
	Parsed   []platform.Kind `json:"parsed"`
	Problems []Problem       `json:"problems,omitempty"`
}

// Problem is one output, or one entry of an output, that did not become
// facts.
type Problem struct {
	Kind    platform.Kind `json:"kind"`
	Command string        `json:"command,omitempty"`
	// Whole says the output as a whole contributed nothing; otherwise one
	// entry of it was left out.
	Whole   bool   `json:"whole"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	what := "skipped"
	if p.Whole {
		what = "not parsed"
	}
	cmd := ""
	if p.Command != "" {
		cmd = " (" + p.Command + ")"
	}
	return fmt.Sprintf("%s%s: %s: %s", p.Kind, cmd, what, p.Message)
}

// Clean reports whether every device was collected and every output of
// every device parsed without leaving anything out.
func (r *Report) Clean() bool {
	for _, d := range r.Devices {
		if d.Error != nil || len(d.Problems) > 0 || !d.Included {
			return false
		}
	}
	return true
}

// Cache parses every device of the cache directory dir with the default
// Options. The document holds the devices that gave any facts; devices
// that gave none are only in the report. An error means the cache could
// not be read at all.
func Cache(dir string) (*facts.Document, *Report, error) {
	return CacheWith(dir, Options{})
}

// CacheWith is Cache with options.
func CacheWith(dir string, o Options) (*facts.Document, *Report, error) {
	text := newTemplates(o.NTCTemplates)
	devs, err := rawcache.List(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading cache %s: %w", dir, err)
	}
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{}}
	rep := &Report{Devices: []DeviceReport{}}
	for _, d := range devs {
		fd, dr := device(dir, d, text)
		if dr.Included {
			doc.Devices = append(doc.Devices, *fd)
			if d.FinishedAt.After(doc.CollectedAt) {
				doc.CollectedAt = d.FinishedAt.UTC()
			}
		}
		rep.Devices = append(rep.Devices, dr)
	}
	// Every device was checked on its own; the document as a whole adds
	// only the duplicate-hostname check, which the cache layout rules out.
	if err := facts.Normalize(doc); err != nil {
		return nil, nil, fmt.Errorf("internal error: assembled document is invalid: %w", err)
	}
	return doc, rep, nil
}

// Device parses one cached device with the default Options. The facts are
// nil when the device gave none.
func Device(dir string, d rawcache.Device) (*facts.Device, DeviceReport) {
	return device(dir, d, newTemplates(""))
}

func device(dir string, d rawcache.Device, text *templates) (*facts.Device, DeviceReport) {
	dr := DeviceReport{Hostname: d.Hostname, DeviceType: d.DeviceType, Error: d.Error, Parsed: []platform.Kind{}}
	p, err := platform.Lookup(d.DeviceType)
	if err != nil {
		dr.Error = &rawcache.Failure{Class: rawcache.ClassOther, Message: err.Error()}
		return nil, dr
	}
	b := newBuilder(d.Hostname, names[d.DeviceType])
	b.deviceType, b.text = d.DeviceType, text
	b.dev.Vendor, b.dev.OS = p.Vendor, p.OS
	if a, err := netip.ParseAddr(d.Host); err == nil {
		b.dev.MgmtIP = a.Unmap().String()
	}
	if !d.FinishedAt.IsZero() {
		b.dev.Metadata = map[string]any{"collected_at": d.FinishedAt.UTC().Format(time.RFC3339)}
	}
	// The platform's order (version and interfaces first), then anything
	// else the cache holds.
	outputs := append([]rawcache.Output(nil), d.Outputs...)
	order := map[platform.Kind]int{}
	for i, c := range p.Commands {
		order[c.Kind] = i
	}
	sort.SliceStable(outputs, func(i, j int) bool {
		oi, iok := order[outputs[i].Kind]
		oj, jok := order[outputs[j].Kind]
		if iok != jok {
			return iok
		}
		return oi < oj
	})
	for _, o := range outputs {
		whole := func(msg string) {
			dr.Problems = append(dr.Problems, Problem{Kind: o.Kind, Command: o.Command, Whole: true, Message: msg})
		}
		if o.Error != nil {
			whole("not collected: " + o.Error.Error())
			continue
		}
		data, _, err := rawcache.Load(dir, d, o.Kind)
		if err != nil {
			whole("reading the cached output: " + err.Error())
			continue
		}
		fn, err := parserFor(d.DeviceType, o, data)
		if err != nil {
			whole(err.Error())
			continue
		}
		snap := b.snapshot()
		b.notes = nil
		b.command, b.kind = o.Command, o.Kind
		if b.command == "" {
			if c, ok := p.Command(o.Kind); ok {
				b.command = c.Command
			}
		}
		if err := fn(b, data); err != nil {
			b.restore(snap)
			whole(err.Error())
			continue
		}
		// The facts format has the last word: an output whose facts it
		// refuses contributes nothing.
		check := cloneDevice(b.dev)
		if err := facts.NormalizeDevice(0, &check); err != nil {
			b.restore(snap)
			whole("its facts are refused by the facts format: " + err.Error())
			continue
		}
		for _, n := range b.notes {
			dr.Problems = append(dr.Problems, Problem{Kind: o.Kind, Command: o.Command, Message: n})
		}
		dr.Parsed = append(dr.Parsed, o.Kind)
	}
	if len(dr.Parsed) == 0 {
		if dr.Error == nil && len(dr.Problems) == 0 {
			dr.Error = &rawcache.Failure{Class: rawcache.ClassOther, Message: "the cache holds no output for this device"}
		}
		return nil, dr
	}
	dev := b.dev
	if err := facts.NormalizeDevice(0, &dev); err != nil {
		// Unreachable: every output was checked as it was added.
		dr.Error = &rawcache.Failure{Class: rawcache.ClassOther, Message: "internal error: " + err.Error()}
		return nil, dr
	}
	dr.Included = true
	return &dev, dr
}

// parseFunc reads one output into the device being built. An error means
// the output as a whole could not be read; entries left out are noted
// with b.skip.
type parseFunc func(b *builder, data []byte) error

// parsers holds the parsers of structured output per device type and kind.
var parsers = map[string]map[platform.Kind]parseFunc{
	"arista_eos":      eosParsers,
	"cisco_nxos":      nxosParsers,
	"juniper_junos":   junosParsers,
	"cisco_ios":       iosParsers,
	"cisco_xe":        iosParsers,
	"cisco_asa":       asaParsers,
	"cisco_ftd":       asaParsers,
	"aruba_os":        arubaParsers,
	"paloalto_panos":  panosParsers,
	"fortinet":        fortinetParsers,
	"checkpoint_gaia": gaiaParsers,
}

// parserFor picks the parser of one output: firewall output by its
// content, the rest by device type and kind.
func parserFor(deviceType string, o rawcache.Output, data []byte) (parseFunc, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, errors.New("the output is empty")
	}
	switch o.Kind {
	case platform.KindFirewall, platform.KindFWObjects, platform.KindFWServices, platform.KindFWAddrGroups, platform.KindFWSvcGroups:
		if fn, ok := detectFirewall(data); ok {
			return fn, nil
		}
	}
	fn, ok := parsers[deviceType][o.Kind]
	if !ok {
		return nil, fmt.Errorf("no parser for %s %s output in %s form yet", deviceType, o.Kind, o.Format)
	}
	return fn, nil
}

// builder is the device being assembled, output by output.
type builder struct {
	dev facts.Device
	// canon writes an interface name as the platform's interface list
	// does ("Et1" → "Ethernet1").
	canon func(string) string
	ifs   map[string]int
	notes []string
	// deviceType and command say which output is being read, for the
	// parsers of screen text, which pick their template by them; text
	// holds those templates.
	deviceType string
	command    string
	kind       platform.Kind
	text       *templates
	// asa holds the ASA firewall outputs read so far (asafw.go).
	asa *asaState
}

func newBuilder(hostname string, canon func(string) string) *builder {
	if canon == nil {
		canon = func(s string) string { return s }
	}
	return &builder{dev: facts.Device{Hostname: hostname}, canon: canon, ifs: map[string]int{}}
}

// skip notes an entry left out of the current output.
func (b *builder) skip(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// iface returns the interface named name (canonicalised), adding it.
func (b *builder) iface(name string) *facts.Interface {
	name = b.canon(name)
	if i, ok := b.ifs[name]; ok {
		return &b.dev.Interfaces[i]
	}
	b.dev.Interfaces = append(b.dev.Interfaces, facts.Interface{Name: name})
	b.ifs[name] = len(b.dev.Interfaces) - 1
	return &b.dev.Interfaces[len(b.dev.Interfaces)-1]
}

// addIP adds an interface address unless it is there already.
func addIP(ifc *facts.Interface, p netip.Prefix) {
	s := p.String()
	for _, x := range ifc.IPs {
		if x == s {
			return
		}
	}
	ifc.IPs = append(ifc.IPs, s)
}

type snapshot struct {
	dev facts.Device
	asa *asaState
}

func (b *builder) snapshot() snapshot { return snapshot{cloneDevice(b.dev), b.asa} }

func (b *builder) restore(s snapshot) {
	b.dev, b.asa = s.dev, s.asa
	b.ifs = make(map[string]int, len(b.dev.Interfaces))
	for i, ifc := range b.dev.Interfaces {
		b.ifs[ifc.Name] = i
	}
}

// cloneDevice is a deep copy (facts are plain data: JSON round-trips them).
func cloneDevice(d facts.Device) facts.Device {
	raw, err := json.Marshal(d)
	if err != nil {
		panic(err) // facts.Device always marshals
	}
	var out facts.Device
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	return out
}

func boolp(v bool) *bool    { return &v }
func int64p(v int64) *int64 { return &v }
func intp(v int) *int       { return &v }
