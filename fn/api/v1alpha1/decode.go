package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Problem is one thing wrong (or worth a warning) in a spec, with the field path it concerns and
// what the user should write instead.
type Problem struct {
	Path    string
	Message string
	// Fix says what to write instead; empty when the message already says it.
	Fix     string
	Warning bool
	// Line is the line of the document the problem is on, for problems of the YAML itself
	// (a duplicate key, an alias); 0 for the others, which the path locates.
	Line int
}

func (p Problem) String() string {
	s := p.Path + ": " + p.Message
	if p.Fix != "" {
		s += " (" + p.Fix + ")"
	}
	return s
}

// Problems is every problem found in one spec, errors and warnings together.
type Problems []Problem

// HasErrors reports whether any problem is an error rather than a warning.
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// Error lets Problems travel as an error value where a caller only needs a message.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func (ps *Problems) add(path, msg, fix string) {
	*ps = append(*ps, Problem{Path: path, Message: msg, Fix: fix})
}

func (ps *Problems) addAt(line int, path, msg, fix string) {
	*ps = append(*ps, Problem{Path: path, Message: msg, Fix: fix, Line: line})
}

func (ps *Problems) warn(path, msg, fix string) {
	*ps = append(*ps, Problem{Path: path, Message: msg, Fix: fix, Warning: true})
}

// Decode parses one RqliteSpec document strictly: unknown fields, wrong types and malformed
// quantities are all reported with their field paths, in one pass, instead of stopping at the first.
// The spec is nil when it cannot be decoded; with unknown fields only, it is returned with the
// problems so validation can add its own. Documents larger than MaxSpecBytes, duplicate keys and
// aliases are refused before the conversion to JSON, which would hide the duplicates and expand
// the aliases.
func Decode(doc []byte) (*RqliteSpec, Problems) {
	if ps := CheckSpecSize(len(doc)); ps != nil {
		return nil, ps
	}
	var ps Problems
	if yps, ok := checkYAML(doc); !ok || len(yps) > 0 {
		return nil, yps
	}
	jsonDoc, err := yaml.YAMLToJSON(doc)
	if err != nil {
		ps.add("", fmt.Sprintf("not valid YAML: %v", err), "")
		return nil, ps
	}
	var tree any
	if err := json.Unmarshal(jsonDoc, &tree); err != nil {
		ps.add("", fmt.Sprintf("not valid YAML: %v", err), "")
		return nil, ps
	}
	if _, ok := tree.(map[string]any); !ok {
		ps.add("", "expected a YAML mapping (an RqliteSpec object)", "start the document with apiVersion: "+APIVersion)
		return nil, ps
	}
	checkTree(&ps, "", tree, reflect.TypeFor[RqliteSpec]())
	for _, p := range ps {
		if p.Message != unknownField {
			return nil, ps // a value of the wrong shape cannot be decoded at all
		}
	}
	// Unknown fields alone do not stop decoding: the rest of the spec is still validated, so the
	// user sees every problem in one run instead of fixing them one at a time.
	var spec RqliteSpec
	dec := json.NewDecoder(bytes.NewReader(jsonDoc))
	if len(ps) == 0 {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&spec); err != nil {
		// checkTree covers the known failure modes; anything left is reported as is rather than lost.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			ps.add(te.Field, fmt.Sprintf("cannot use a %s here", te.Value), "write a "+typeName(te.Type))
		} else {
			ps.add("", err.Error(), "")
		}
		return nil, ps
	}
	checkAnnotationSizes(&ps, &spec)
	return &spec, ps
}

const unknownField = "unknown field"

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// checkTree walks the decoded JSON tree beside the Go type it must fit, so every unknown key and
// every wrong type is found with its path. encoding/json alone stops at the first error and, for
// unknown fields, does not say where.
func checkTree(ps *Problems, path string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null means "unset" for every field of this API
	}
	switch t {
	case quantityType:
		checkQuantity(ps, path, v)
		return
	case intOrStringType:
		switch v.(type) {
		case string, float64:
		default:
			ps.add(path, fmt.Sprintf("expected a number or a string, got %s", jsonKind(v)), "")
		}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) && t.Kind() == reflect.Struct {
		return // types with their own JSON form (e.g. metav1.Time) are checked by Decode itself
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			ps.add(path, fmt.Sprintf("expected an object, got %s", jsonKind(v)), "")
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				fix := ""
				if s := closest(k, fields); s != "" {
					fix = fmt.Sprintf("did you mean %q?", s)
				} else {
					fix = "known fields: " + strings.Join(sortedKeys(fields), ", ")
				}
				ps.add(join(path, k), unknownField, fix)
				continue
			}
			checkTree(ps, join(path, k), m[k], ft)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			ps.add(path, fmt.Sprintf("expected a map, got %s", jsonKind(v)), "")
			return
		}
		for k, e := range m {
			checkTree(ps, join(path, k), e, t.Elem())
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // []byte travels as base64 text
			if _, ok := v.(string); !ok {
				ps.add(path, fmt.Sprintf("expected base64 text, got %s", jsonKind(v)), "")
			}
			return
		}
		s, ok := v.([]any)
		if !ok {
			ps.add(path, fmt.Sprintf("expected a list, got %s", jsonKind(v)), "write it as a YAML list (- item)")
			return
		}
		for i, e := range s {
			checkTree(ps, fmt.Sprintf("%s[%d]", path, i), e, t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, fmt.Sprintf("expected a string, got %s", jsonKind(v)), "quote the value")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, fmt.Sprintf("expected true or false, got %s", jsonKind(v)), "write true or false without quotes")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f, ok := v.(float64)
		if !ok {
			ps.add(path, fmt.Sprintf("expected a whole number, got %s", jsonKind(v)), "write the number without quotes")
			return
		}
		if f != float64(int64(f)) {
			ps.add(path, fmt.Sprintf("expected a whole number, got %v", f), "")
			return
		}
		if rv := reflect.New(t).Elem(); rv.CanInt() && rv.OverflowInt(int64(f)) ||
			rv.CanUint() && (f < 0 || rv.OverflowUint(uint64(f))) {
			ps.add(path, fmt.Sprintf("%v is out of range", f), "")
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(float64); !ok {
			ps.add(path, fmt.Sprintf("expected a number, got %s", jsonKind(v)), "")
		}
	case reflect.Interface:
		// free-form
	}
}

func checkQuantity(ps *Problems, path string, v any) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = fmt.Sprint(x)
	default:
		ps.add(path, fmt.Sprintf("expected a quantity, got %s", jsonKind(v)), `write a quantity such as "10Gi", "500m" or "1"`)
		return
	}
	if _, err := resource.ParseQuantity(s); err != nil {
		ps.add(path, fmt.Sprintf("%q is not a quantity", s), `write a quantity such as "10Gi", "500m" or "1"`)
	}
}

// jsonFields maps the JSON names of a struct's fields (following inline embedding) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "YAML object"
	case reflect.Slice:
		return "YAML list"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	}
	return "number"
}

func sortedKeys[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// closest returns the known field nearest to a mistyped one (case-insensitive match or edit
// distance ≤ 2), or "" when nothing is close enough to be a helpful guess.
func closest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for _, k := range sortedKeys(fields) {
		if strings.EqualFold(k, key) {
			return k
		}
		if d := editDistance(strings.ToLower(k), strings.ToLower(key)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
