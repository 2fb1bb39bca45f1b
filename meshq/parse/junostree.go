package parse

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// jnode is one element of Junos structured output. Junos writes the same
// tree two ways: as XML (`| display xml`, NETCONF) and as JSON
// (`| display json`), where every element becomes a list of objects, a
// leaf's text is wrapped as [{"data": "text"}], an empty element (a flag
// such as <iff-up/>) is [{"data": [null]}] or [null], and attributes sit
// under "attributes". Reading both into one tree lets each parser be
// written once, against element names.
type jnode struct {
	text  string
	attrs map[string]string
	kids  map[string][]*jnode
	// path names the element for messages ("interface-information/physical-interface").
	path string
}

// all returns the children named name, in order.
func (n *jnode) all(name string) []*jnode {
	if n == nil {
		return nil
	}
	return n.kids[name]
}

// one returns the first child named name, or nil.
func (n *jnode) one(name string) *jnode {
	if k := n.all(name); len(k) > 0 {
		return k[0]
	}
	return nil
}

// has reports whether the element has a child named name (flags are
// empty elements).
func (n *jnode) has(name string) bool { return len(n.all(name)) > 0 }

// str returns the trimmed text of the first child named name.
func (n *jnode) str(name string) string {
	if k := n.one(name); k != nil {
		return strings.TrimSpace(k.text)
	}
	return ""
}

// at walks down a path of names, following the first child at each step.
func (n *jnode) at(names ...string) *jnode {
	for _, name := range names {
		n = n.one(name)
		if n == nil {
			return nil
		}
	}
	return n
}

// readJunos reads one Junos output in either form; the returned node's
// children are the output's top-level elements (an rpc-reply wrapper is
// looked through). top names the element the command's output must have,
// for the message when it has not.
func readJunos(data []byte, command, top string) (*jnode, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("the output is empty")
	}
	var root *jnode
	var err error
	switch data[0] {
	case '{':
		root, err = readJunosJSON(data)
	case '<':
		root, err = readXMLTree(data)
	default:
		return nil, fmt.Errorf("neither JSON nor XML: the device answered %q", firstLine(data))
	}
	if err != nil {
		return nil, err
	}
	if rr := root.one("rpc-reply"); rr != nil && len(root.kids) == 1 {
		if e := rr.one("rpc-error"); e != nil {
			return nil, fmt.Errorf("the device answered with an error: %s", e.str("error-message"))
		}
		rr.path = ""
		root = rr
	}
	if top != "" && !root.has(top) {
		return nil, errWrongCommand(command, top)
	}
	return root, nil
}

func readJunosJSON(data []byte) (*jnode, error) {
	var v any
	if err := decodeJSON(data, &v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("unexpected JSON: the document is not an object")
	}
	root := &jnode{kids: map[string][]*jnode{}}
	if err := fillJSON(root, obj, ""); err != nil {
		return nil, err
	}
	return root, nil
}

// fillJSON adds the members of one JSON object to n.
func fillJSON(n *jnode, obj map[string]any, path string) error {
	for key, val := range obj {
		here := key
		if path != "" {
			here = path + "/" + key
		}
		switch key {
		case "data":
			// A leaf's text; [null] marks an empty element.
			switch d := val.(type) {
			case string:
				n.text = d
			case json.Number, float64, bool:
				n.text = fmt.Sprint(d)
			case []any, nil:
			default:
				return fmt.Errorf("unexpected JSON: %s is %s, want text", here, jsonKind(val))
			}
			continue
		case "attributes":
			attrs, ok := val.(map[string]any)
			if !ok {
				return fmt.Errorf("unexpected JSON: %s is %s, want an object", here, jsonKind(val))
			}
			n.attrs = map[string]string{}
			for k, a := range attrs {
				n.attrs[k] = fmt.Sprint(a)
			}
			continue
		}
		var list []any
		switch v := val.(type) {
		case []any:
			list = v
		case string, float64, json.Number, bool:
			// A few members are written bare ("comment" : "keepalive").
			n.kids[key] = append(n.kids[key], &jnode{text: fmt.Sprint(v), kids: map[string][]*jnode{}, path: here})
			continue
		default:
			return fmt.Errorf("unexpected JSON: %s is %s, want a list", here, jsonKind(val))
		}
		for _, item := range list {
			kid := &jnode{kids: map[string][]*jnode{}, path: here}
			switch it := item.(type) {
			case nil:
			case map[string]any:
				if err := fillJSON(kid, it, here); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unexpected JSON: an item of %s is %s, want an object", here, jsonKind(item))
			}
			n.kids[key] = append(n.kids[key], kid)
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func readXMLTree(data []byte) (*jnode, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	root := &jnode{kids: map[string][]*jnode{}}
	stack := []*jnode{root}
	// The text of each open element.
	text := [][]byte{nil}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(stack) > 1 && (errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF")) {
				return nil, fmt.Errorf("truncated XML: the output ends inside <%s>", stack[len(stack)-1].name())
			}
			return nil, fmt.Errorf("invalid XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			path := t.Name.Local
			if parent.path != "" {
				path = parent.path + "/" + path
			}
			kid := &jnode{kids: map[string][]*jnode{}, path: path}
			for _, a := range t.Attr {
				if kid.attrs == nil {
					kid.attrs = map[string]string{}
				}
				kid.attrs[a.Name.Local] = a.Value
			}
			parent.kids[t.Name.Local] = append(parent.kids[t.Name.Local], kid)
			stack = append(stack, kid)
			text = append(text, nil)
		case xml.EndElement:
			n := stack[len(stack)-1]
			if len(n.kids) == 0 {
				n.text = string(text[len(text)-1])
			}
			stack = stack[:len(stack)-1]
			text = text[:len(text)-1]
		case xml.CharData:
			text[len(text)-1] = append(text[len(text)-1], t...)
		}
	}
	if len(stack) > 1 {
		return nil, fmt.Errorf("truncated XML: the output ends inside <%s>", stack[len(stack)-1].name())
	}
	if len(root.kids) == 0 {
		return nil, errors.New("not XML: no element in the output")
	}
	return root, nil
}

// name is the element's own name, the last part of its path.
func (n *jnode) name() string {
	return n.path[strings.LastIndexByte(n.path, '/')+1:]
}

// textAll is the element's text with its children's, for messages.
func (n *jnode) textAll() string {
	if n == nil {
		return ""
	}
	var parts []string
	if t := strings.TrimSpace(n.text); t != "" {
		parts = append(parts, t)
	}
	for _, list := range n.kids {
		for _, k := range list {
			if t := k.textAll(); t != "" {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, " ")
}
