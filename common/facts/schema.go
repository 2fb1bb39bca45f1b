package facts

import (
	_ "embed"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the document's JSON Schema, the path the
// apiserver serves it at.
const SchemaID = "/schemas/meshq.facts.v1.json"

// The type declarations, read for their doc comments: the schema's
// descriptions are the Go documentation, so the two cannot drift apart.
//
//go:embed facts.go
var factsSource string

var schemaOnce = sync.OnceValues(buildSchema)

// JSONSchema is the JSON Schema (draft 2020-12) of a meshq.facts/v1
// document, generated from the Go types Parse decodes into: the same
// fields, unknown fields refused, the fields Normalize requires marked
// required. It describes the structure; Normalize's value checks (address
// syntax, references between interfaces, zones and objects, duplicates)
// stay in the message Parse returns. Parse also takes an explicit null as
// an absent field, which the schema does not advertise.
func JSONSchema() ([]byte, error) { return schemaOnce() }

func buildSchema() ([]byte, error) {
	comments, err := typeComments(factsSource)
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{
		// Required is what Normalize requires (the jsonschema:"required"
		// tags), not every field without omitempty: rule_order, say, may
		// be left out.
		RequiredFromJSONSchemaTags: true,
		ExpandedStruct:             true,
		LookupComment: func(t reflect.Type, field string) string {
			if t.PkgPath() != reflect.TypeFor[Document]().PkgPath() {
				return ""
			}
			return comments[t.Name()+"."+field]
		},
	}
	s := r.Reflect(&Document{})
	s.ID = jsonschema.ID(SchemaID)
	s.Title = Schema
	return json.MarshalIndent(s, "", "  ")
}

// typeComments maps "Type." and "Type.Field" to their doc comments in src.
func typeComments(src string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "facts.go", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	text := func(groups ...*ast.CommentGroup) string {
		for _, g := range groups {
			if t := strings.TrimSpace(g.Text()); t != "" {
				return strings.Join(strings.Fields(t), " ")
			}
		}
		return ""
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			out[ts.Name.Name+"."] = text(ts.Doc, gd.Doc)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, fld := range st.Fields.List {
				for _, n := range fld.Names {
					out[ts.Name.Name+"."+n.Name] = text(fld.Doc, fld.Comment)
				}
			}
		}
	}
	return out, nil
}
