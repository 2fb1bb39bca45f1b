package engine

import (
	"reflect"

	"github.com/meshoptixiq/mesh/common/facts"
)

// compact copies every slice reachable from devs into one of exactly its
// length. A JSON decoder grows slices by appending, so a freshly parsed
// document carries up to twice the capacity it uses, and the graph keeps
// the devices for as long as its version lives: on the 10k-device demo
// network the slack was 105 of the parsed document's 260 MB.
func compact(devs []facts.Device) {
	for i := range devs {
		compactValue(reflect.ValueOf(&devs[i]).Elem())
	}
}

func compactValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				compactValue(f)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			compactValue(v.Elem())
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Cap() > v.Len() {
			exact := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(exact, v)
			v.Set(exact)
		}
		if holdsSlices(v.Type().Elem()) {
			for i := range v.Len() {
				compactValue(v.Index(i))
			}
		}
	}
}

// holdsSlices reports whether values of t can reach a slice, so that the
// walk skips []string, []int and the like element by element.
func holdsSlices(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Slice:
		return true
	case reflect.Pointer:
		return holdsSlices(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsSlices(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
