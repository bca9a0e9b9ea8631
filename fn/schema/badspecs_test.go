package schema

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// badSpec is one row of the validation table in fn/api/v1alpha1/validate_test.go.
type badSpec struct{ name, doc, path string }

// readBadSpecs reads the validation table from its source. The table lives in another package's
// test file, which no other package can import; reading it keeps this test on the same rows as the
// validation test instead of a copy that drifts. The evaluator knows the expressions the table
// uses (string literals, +, the file's string constants, strings.Repeat) and fails on anything else.
func readBadSpecs(t *testing.T, path string) []badSpec {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatalf("parsing the validation table: %v", err)
	}
	consts := map[string]ast.Expr{}
	var table *ast.CompositeLit
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range gd.Specs {
			vs, ok := s.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, n := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if n.Name == "badSpecs" {
					table, _ = vs.Values[i].(*ast.CompositeLit)
				} else {
					consts[n.Name] = vs.Values[i]
				}
			}
		}
	}
	if table == nil {
		t.Fatalf("%s: no `var badSpecs = []struct{...}{...}`", path)
	}
	var eval func(e ast.Expr) (string, error)
	eval = func(e ast.Expr) (string, error) {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				return strconv.Unquote(x.Value)
			}
			return x.Value, nil
		case *ast.BinaryExpr:
			if x.Op != token.ADD {
				break
			}
			a, err := eval(x.X)
			if err != nil {
				return "", err
			}
			b, err := eval(x.Y)
			return a + b, err
		case *ast.Ident:
			if v, ok := consts[x.Name]; ok {
				return eval(v)
			}
		case *ast.ParenExpr:
			return eval(x.X)
		case *ast.CallExpr:
			if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Repeat" && len(x.Args) == 2 {
				s, err := eval(x.Args[0])
				if err != nil {
					return "", err
				}
				n, err := eval(x.Args[1])
				if err != nil {
					return "", err
				}
				k, err := strconv.Atoi(n)
				if err != nil {
					return "", err
				}
				return strings.Repeat(s, k), nil
			}
		}
		return "", fmt.Errorf("%s: an expression this reader does not evaluate; extend readBadSpecs", fset.Position(e.Pos()))
	}
	var out []badSpec
	for _, el := range table.Elts {
		row, ok := el.(*ast.CompositeLit)
		if !ok || len(row.Elts) < 3 {
			t.Fatalf("%s: a row that is not {name, doc, path, fix}", fset.Position(el.Pos()))
		}
		var vals []string
		for _, e := range row.Elts[:3] {
			v, err := eval(e)
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, v)
		}
		out = append(out, badSpec{name: vals[0], doc: vals[1], path: vals[2]})
	}
	return out
}

// Schema verdicts on the validation table's rows.
const (
	rejected   = "rejected by the schema"
	unparsable = "rejected before the schema: not YAML"
	accepted   = "accepted: the schema cannot express the rule"
)

// schemaVerdicts classifies every row of the validation table. A new row fails the tests until it
// is classified here, so the list stays exact.
var schemaVerdicts = map[string]string{
	"unknown top-level spec field":            rejected, // additionalProperties: false
	"unknown nested field with suggestion":    rejected,
	"unknown metadata field":                  rejected,
	"unknown field deep in a Kubernetes type": rejected,
	"wrong type":                  rejected,
	"fractional count":            rejected, // type integer
	"list where object expected":  rejected,
	"string where bool expected":  rejected,
	"zero voters":                 rejected, // minimum 1
	"negative voters":             rejected,
	"absurd voters":               rejected, // maximum 99
	"read-only without voters":    rejected,
	"negative read-only":          rejected, // minimum 0
	"name not DNS":                rejected, // pattern
	"name starts with digit":      rejected,
	"name too long":               rejected, // maxLength 40
	"missing name":                rejected, // required
	"bad namespace":               rejected,
	"wrong apiVersion":            rejected, // enum
	"wrong kind":                  rejected,
	"bad storage quantity":        rejected, // quantity pattern
	"zero storage":                accepted, // "0" is a well-formed quantity; positivity is a value check
	"bad resource quantity":       rejected,
	"request above limit":         accepted, // compares two fields
	"HPA min above max":           accepted, // compares two fields
	"HPA min zero":                rejected,
	"HPA target not a percentage": rejected, // maximum 100
	"replicas and autoscaling":    rejected, // not: required both
	"managed flag":                rejected, // pattern: only the allowed flags
	"non-voter flag on voters":    rejected,
	"flag not valid in v10":       rejected,
	"arg not a flag":              accepted, // could be the value of a flag before it: Validate sees the neighbours
	"unknown flag":                rejected,
	"managed TLS flag":            rejected,
	"newline in an arg":           rejected, // no control characters
	"flag missing its value":      accepted, // a value may follow as the next item
	"floating image":              accepted, // image references are parsed, not matched
	"untagged image":              accepted,
	"bad image":                   accepted,
	"bad pull policy":             rejected, // enum
	"bad service type":            rejected,
	"source ranges without LB":    accepted, // depends on service.type
	"bad retention":               rejected,
	"bad cluster domain":          rejected, // pattern
	"reserved volume name":        accepted, // names the renderer uses
	"mount of unknown volume":     accepted, // a cross-reference
	"mount over data dir":         accepted, // paths the renderer uses
	"reserved env":                accepted,
	"selector label":              accepted, // label keys the renderer uses
	"probe zero period":           rejected, // minimum 1
	"bad anti-affinity mode":      rejected, // enum
	"bad CIDR":                    accepted, // CIDR syntax
	"empty peer":                  accepted, // an object with no field set
	// Pod Security rules on the user's own containers and container names are Validate's.
	"privileged sidecar":               accepted,
	"init container adds a capability": accepted,
	"sidecar named like rqlite's":      accepted,
	"sidecar without image":            accepted,
	"not an object":                    rejected, // type object
	"not YAML":                         unparsable,

	// The image reference grammar (digest, registry port, case, lengths) is parsed, not matched.
	"image with an uppercase path":    accepted,
	"image digest too short":          accepted,
	"image digest in uppercase hex":   accepted,
	"image name too long":             accepted,
	"image tag too long":              accepted,
	"image registry port without tag": accepted,
	"image ID instead of a name":      accepted,
}
