// Package schema generates the published schemas of RqliteSpec from the Go types by reflection:
// a JSON Schema (draft 2020-12) for editors and CI, and an OpenAPI v3 structural schema for a CRD's
// openAPIV3Schema. Descriptions come from the API package's doc comments (parsed from source) and
// from Kubernetes' own field documentation; constraints mirror v1alpha1.Validate.
//
// The generated files live in schema/ at the repository root and are embedded into the binary from
// there (package github.com/rqlite/rqlite-krm/schema); TestGoldenSchemaFiles fails when they are
// stale and rewrites them under -update.
package schema

//go:generate go run ./gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// ID is the JSON Schema's $id: where the published file is served from.
const ID = "https://raw.githubusercontent.com/rqlite/rqlite-krm/main/schema/rqlitespec.schema.json"

const generatedNote = "Generated from the Go types of fn/api/v1alpha1 by `go generate ./fn/schema`; do not edit."

// kinds of node.
const (
	kObject      = "object"
	kMap         = "map"
	kArray       = "array"
	kString      = "string"
	kInteger     = "integer"
	kNumber      = "number"
	kBoolean     = "boolean"
	kQuantity    = "quantity"
	kIntOrString = "intOrString"
	kAny         = "any"
)

// node is the dialect-neutral schema of one Go type at one place.
type node struct {
	kind   string
	named  reflect.Type // struct types: one $defs entry each in the JSON Schema
	desc   string       // the type's own description
	fields []*field
	// closed rejects unknown fields, as strict decoding does.
	closed    bool
	exclusive [][]string
	elem      *node // array items, map values
	format    string
	enum      []string
	pattern   string
	notPat    string
	minimum   *int64
	maximum   *int64
	minLength *int64
	maxLength *int64
	// kube marks types of Kubernetes packages (their descriptions are left out of the OpenAPI form).
	kube bool
}

type field struct {
	name     string
	node     *node
	desc     string
	def      any
	required bool
}

// Generator builds both schemas from one walk of the types.
type Generator struct {
	docs     *Docs
	defaults map[FieldKey]any
	structs  map[reflect.Type]*node
	root     *node
}

// New walks RqliteSpec. docs may be nil (no descriptions of the API's own types).
func New(docs *Docs) (*Generator, error) {
	if docs == nil {
		docs = &Docs{Types: map[string]string{}, Fields: map[string]string{}, Enums: map[string][]string{}}
	}
	g := &Generator{docs: docs, defaults: Defaults(), structs: map[reflect.Type]*node{}}
	root, err := g.build(reflect.TypeFor[v1alpha1.RqliteSpec]())
	if err != nil {
		return nil, err
	}
	g.root = root
	return g, nil
}

// FromSource parses the API package's doc comments from this source tree and walks the types.
func FromSource() (*Generator, error) {
	dir, err := APISourceDir()
	if err != nil {
		return nil, err
	}
	docs, err := ParseDocs(dir)
	if err != nil {
		return nil, err
	}
	return New(docs)
}

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	timeType        = reflect.TypeFor[metav1.Time]()
	microTimeType   = reflect.TypeFor[metav1.MicroTime]()
	durationType    = reflect.TypeFor[metav1.Duration]()
	objectMetaType  = reflect.TypeFor[metav1.ObjectMeta]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func (g *Generator) build(t reflect.Type) (*node, error) {
	t = deref(t)
	kube := t.PkgPath() != "" && t.PkgPath() != apiPkg
	switch t {
	case quantityType:
		return &node{kind: kQuantity, pattern: Quantity, kube: true}, nil
	case intOrStringType:
		return &node{kind: kIntOrString, kube: true}, nil
	case timeType, microTimeType:
		return &node{kind: kString, format: "date-time", kube: true}, nil
	case durationType:
		return &node{kind: kString, kube: true}, nil
	case objectMetaType:
		// The only ObjectMeta below a spec is a PersistentVolumeClaimTemplate's, where the API
		// server allows labels and annotations and rejects every other field.
		return &node{kind: kObject, closed: true, kube: true,
			desc: "May contain labels and annotations that will be copied into the PVC when creating it; no other fields are allowed.",
			fields: []*field{
				{name: "annotations", node: &node{kind: kMap, elem: &node{kind: kString}, kube: true}},
				{name: "labels", node: &node{kind: kMap, elem: &node{kind: kString}, kube: true}},
			}}, nil
	}
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil, fmt.Errorf("schema: %s has its own JSON form; teach the generator its schema", t)
	}
	switch t.Kind() {
	case reflect.Struct:
		return g.buildStruct(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("schema: map key %s is not a string", t.Key())
		}
		elem, err := g.build(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{kind: kMap, elem: elem, kube: kube}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &node{kind: kString, format: "byte", kube: kube}, nil
		}
		elem, err := g.build(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{kind: kArray, elem: elem, kube: kube}, nil
	case reflect.String:
		n := &node{kind: kString, kube: kube}
		if vs, ok := TypeEnums[t]; ok {
			n.enum = append([]string(nil), vs...)
			if emptyAllowed[t] {
				n.enum = append(n.enum, "")
			}
		} else if t.PkgPath() == apiPkg {
			n.enum = append([]string(nil), g.docs.Enums[t.Name()]...)
		}
		return n, nil
	case reflect.Bool:
		return &node{kind: kBoolean, kube: kube}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return &node{kind: kInteger, format: "int32", kube: kube}, nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return &node{kind: kInteger, format: "int64", kube: kube}, nil
	case reflect.Float32, reflect.Float64:
		return &node{kind: kNumber, kube: kube}, nil
	case reflect.Interface:
		return &node{kind: kAny, kube: kube}, nil
	}
	return nil, fmt.Errorf("schema: no schema for %s", t)
}

func (g *Generator) buildStruct(t reflect.Type) (*node, error) {
	if n, ok := g.structs[t]; ok {
		return n, nil // also ends recursion: the node is registered before its fields are built
	}
	kube := t.PkgPath() != apiPkg
	n := &node{kind: kObject, named: t, closed: true, kube: kube, desc: g.typeDoc(t), exclusive: ExclusiveFields[t]}
	g.structs[t] = n
	for _, sf := range structFields(t) {
		fn, err := g.build(sf.typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), sf.goName, err)
		}
		k := FieldKey{sf.declaredIn, sf.json}
		if c, ok := FieldConstraints[k]; ok {
			target := fn
			if c.Items {
				target = fn.elem
			}
			if target == nil || target.named != nil {
				return nil, fmt.Errorf("schema: the constraint on %s.%s does not fit its type", sf.declaredIn.Name(), sf.json)
			}
			apply(target, c)
		}
		f := &field{name: sf.json, node: fn, desc: g.fieldDoc(sf), def: g.defaults[k], required: isRequired(sf, k)}
		n.fields = append(n.fields, f)
	}
	return n, nil
}

// isRequired follows the Kubernetes API convention: a field without omitempty must be set. Pointers,
// lists and maps may be absent whatever their tag, and so may booleans, whose zero value is a valid
// choice, not a missing one.
func isRequired(sf structField, k FieldKey) bool {
	switch sf.typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Bool, reflect.Interface:
		return false
	}
	return !sf.omitempty && !NotRequired[k]
}

func apply(n *node, c Constraint) {
	if c.Enum != nil {
		n.enum = append([]string(nil), c.Enum...)
	}
	if c.Pattern != "" {
		n.pattern = c.Pattern
	}
	n.notPat = c.NotPattern
	n.minimum, n.maximum, n.minLength, n.maxLength = c.Minimum, c.Maximum, c.MinLength, c.MaxLength
}

type structField struct {
	json, goName string
	typ          reflect.Type
	declaredIn   reflect.Type
	omitempty    bool
}

// structFields lists a struct's JSON fields in declaration order, with inline embedded structs
// expanded in place, the way encoding/json (and v1alpha1.Decode) see them.
func structFields(t reflect.Type) []structField {
	var out []structField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) && deref(f.Type).Kind() == reflect.Struct {
			out = append(out, structFields(deref(f.Type))...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, structField{json: name, goName: f.Name, typ: f.Type, declaredIn: t, omitempty: strings.Contains(opts, "omitempty")})
	}
	return out
}

type swaggerDoc interface{ SwaggerDoc() map[string]string }

func swagger(t reflect.Type) map[string]string {
	if d, ok := reflect.New(t).Elem().Interface().(swaggerDoc); ok {
		return d.SwaggerDoc()
	}
	return nil
}

func (g *Generator) typeDoc(t reflect.Type) string {
	if t.PkgPath() == apiPkg {
		return g.docs.Types[t.Name()]
	}
	return swagger(t)[""]
}

func (g *Generator) fieldDoc(sf structField) string {
	if sf.declaredIn.PkgPath() == apiPkg {
		return g.docs.Fields[sf.declaredIn.Name()+"."+sf.goName]
	}
	return swagger(sf.declaredIn)[sf.json]
}

// defName names a struct's $defs entry: the API's own types by name, Kubernetes types the way
// Kubernetes' OpenAPI does (io.k8s.api.core.v1.Toleration).
func defName(t reflect.Type) string {
	if t.PkgPath() == apiPkg {
		return t.Name()
	}
	p := t.PkgPath()
	if rest, ok := strings.CutPrefix(p, "k8s.io/"); ok {
		p = "io.k8s." + rest
	}
	return strings.ReplaceAll(p, "/", ".") + "." + t.Name()
}

// JSONSchema is the draft 2020-12 schema. Every value but the document itself may be null:
// v1alpha1.Decode reads null as "unset" everywhere, and an empty YAML value (`readOnly:`) is null.
func (g *Generator) JSONSchema() ([]byte, error) {
	defs := map[string]any{}
	root := g.jsonObject(g.root, defs)
	root["type"] = "object"
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = ID
	root["$comment"] = generatedNote
	root["title"] = v1alpha1.Kind
	root["$defs"] = defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func nullable(types ...string) []any {
	out := make([]any, 0, len(types)+1)
	for _, t := range types {
		out = append(out, t)
	}
	return append(out, "null")
}

func (g *Generator) jsonNode(n *node, defs map[string]any) map[string]any {
	if n.named != nil {
		name := defName(n.named)
		if _, done := defs[name]; !done {
			defs[name] = nil // placeholder: a type that refers to itself stops here
			defs[name] = g.jsonObject(n, defs)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	switch n.kind {
	case kObject:
		return g.jsonObject(n, defs)
	case kMap:
		return map[string]any{"type": nullable("object"), "additionalProperties": g.jsonNode(n.elem, defs)}
	case kArray:
		return map[string]any{"type": nullable("array"), "items": g.jsonNode(n.elem, defs)}
	case kQuantity:
		return map[string]any{"type": nullable("string", "number"), "pattern": n.pattern}
	case kIntOrString:
		return map[string]any{"type": nullable("string", "integer")}
	case kAny:
		return map[string]any{}
	}
	m := map[string]any{"type": nullable(n.kind)}
	g.scalar(m, n, true)
	return m
}

// scalar writes the value constraints of a scalar node.
func (g *Generator) scalar(m map[string]any, n *node, withNull bool) {
	if n.format != "" && (n.kind == kString || !withNull) {
		m["format"] = n.format // integer formats are an OpenAPI convention, not JSON Schema
	}
	if len(n.enum) > 0 {
		e := make([]any, 0, len(n.enum)+1)
		for _, v := range n.enum {
			e = append(e, v)
		}
		if withNull {
			e = append(e, nil)
		}
		m["enum"] = e
	}
	if n.pattern != "" {
		m["pattern"] = n.pattern
	}
	if n.notPat != "" {
		m["not"] = map[string]any{"pattern": n.notPat}
	}
	if n.minimum != nil {
		m["minimum"] = *n.minimum
	}
	if n.maximum != nil {
		m["maximum"] = *n.maximum
	}
	if n.minLength != nil {
		m["minLength"] = *n.minLength
	}
	if n.maxLength != nil {
		m["maxLength"] = *n.maxLength
	}
}

func (g *Generator) jsonObject(n *node, defs map[string]any) map[string]any {
	m := map[string]any{"type": nullable("object")}
	if n.desc != "" {
		m["description"] = n.desc
	}
	props := map[string]any{}
	var required []string
	for _, f := range n.fields {
		p := g.jsonNode(f.node, defs)
		if f.desc != "" {
			p["description"] = f.desc
		}
		if f.def != nil {
			p["default"] = f.def
		}
		props[f.name] = p
		if f.required {
			required = append(required, f.name)
		}
	}
	m["properties"] = props
	if len(required) > 0 {
		sort.Strings(required)
		m["required"] = required
	}
	if n.closed {
		m["additionalProperties"] = false
	}
	addExclusive(m, n)
	return m
}

func addExclusive(m map[string]any, n *node) {
	var nots []any
	for _, set := range n.exclusive {
		nots = append(nots, map[string]any{"not": map[string]any{"required": set}})
	}
	switch len(nots) {
	case 0:
	case 1:
		m["not"] = nots[0].(map[string]any)["not"]
	default:
		m["allOf"] = nots
	}
}

// OpenAPI is the structural schema for a CustomResourceDefinition's openAPIV3Schema: everything
// inlined (no $ref), int-or-string values marked x-kubernetes-int-or-string, no
// additionalProperties: false (the API server prunes, or with fieldValidation=Strict rejects,
// unknown fields), metadata restricted to what a CRD may constrain (the name), and descriptions
// only for the API's own fields: Kubernetes' are long, repeated for every embedded container, and
// `kubectl explain` has them anyway.
func (g *Generator) OpenAPI() ([]byte, error) {
	root := map[string]any{"type": "object", "description": g.root.desc}
	props := map[string]any{}
	for _, f := range g.root.fields {
		switch f.name {
		case "apiVersion", "kind":
			props[f.name] = map[string]any{"type": "string", "description": f.desc}
		case "metadata":
			name := map[string]any{"type": "string"}
			for _, mf := range f.node.fields {
				if mf.name == "name" {
					g.scalar(name, mf.node, false)
				}
			}
			// A CRD may constrain metadata.name and nothing else of metadata, not even its description.
			props[f.name] = map[string]any{"type": "object", "properties": map[string]any{"name": name}}
		default:
			p, err := g.openapiNode(f.node, nil)
			if err != nil {
				return nil, err
			}
			if f.desc != "" {
				p["description"] = f.desc
			}
			props[f.name] = p
		}
	}
	root["properties"] = props
	b, err := yaml.Marshal(root)
	if err != nil {
		return nil, err
	}
	return append([]byte("# "+generatedNote+"\n# An OpenAPI v3 structural schema for a CustomResourceDefinition's openAPIV3Schema.\n"), b...), nil
}

func (g *Generator) openapiNode(n *node, stack []reflect.Type) (map[string]any, error) {
	switch n.kind {
	case kObject:
		if n.named != nil {
			for _, s := range stack {
				if s == n.named {
					return nil, fmt.Errorf("schema: %s contains itself; a structural schema cannot", n.named)
				}
			}
			stack = append(stack, n.named)
		}
		m := map[string]any{"type": "object"}
		if n.desc != "" && !n.kube {
			m["description"] = n.desc
		}
		props := map[string]any{}
		var required []string
		for _, f := range n.fields {
			p, err := g.openapiNode(f.node, stack)
			if err != nil {
				return nil, err
			}
			if f.desc != "" && !n.kube {
				p["description"] = f.desc
			} else if f.desc == "" && !f.node.kube && f.node.desc != "" {
				p["description"] = f.node.desc
			}
			props[f.name] = p
			if f.required {
				required = append(required, f.name)
			}
		}
		if len(props) > 0 {
			m["properties"] = props
		}
		if len(required) > 0 {
			sort.Strings(required)
			m["required"] = required
		}
		addExclusive(m, n)
		return m, nil
	case kMap:
		v, err := g.openapiNode(n.elem, stack)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": v}, nil
	case kArray:
		v, err := g.openapiNode(n.elem, stack)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": v}, nil
	case kQuantity:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}},
			"pattern": n.pattern, "x-kubernetes-int-or-string": true}, nil
	case kIntOrString:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}},
			"x-kubernetes-int-or-string": true}, nil
	case kAny:
		return map[string]any{"x-kubernetes-preserve-unknown-fields": true}, nil
	}
	m := map[string]any{"type": n.kind}
	g.scalar(m, n, false)
	return m, nil
}

// File names of the published schemas under schema/.
const (
	JSONSchemaFile = "rqlitespec.schema.json"
	OpenAPIFile    = "rqlitespec.openapi.yaml"
)

// Files generates both published files from this source tree, by file name.
func Files() (map[string][]byte, error) {
	g, err := FromSource()
	if err != nil {
		return nil, err
	}
	js, err := g.JSONSchema()
	if err != nil {
		return nil, err
	}
	oa, err := g.OpenAPI()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{JSONSchemaFile: js, OpenAPIFile: oa}, nil
}
