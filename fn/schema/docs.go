package schema

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Docs are the doc comments of the API package, read from its source: reflection sees types and
// tags but not comments, and the comments are the spec's documentation.
type Docs struct {
	// Types maps a type name to its doc comment.
	Types map[string]string
	// Fields maps "Type.GoField" to the field's doc comment (leading, or trailing when there is none).
	Fields map[string]string
	// Enums maps a named string type to the values of its typed constants, in source order.
	Enums map[string][]string
}

// APISourceDir is the directory of fn/api/v1alpha1 in this source tree. The generator runs from the
// source tree (go generate, go test), never from the released binary, which embeds its output.
func APISourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("schema: cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "api", "v1alpha1")
	if _, err := os.Stat(filepath.Join(dir, "types.go")); err != nil {
		return "", fmt.Errorf("schema: the API source is not beside the generator: %w", err)
	}
	return dir, nil
}

// ParseDocs reads the doc comments of every non-test Go file in dir.
func ParseDocs(dir string) (*Docs, error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("schema: no Go files in %s", dir)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/rqlite/rqlite-krm/fn/api/v1alpha1", doc.AllDecls)
	if err != nil {
		return nil, err
	}
	d := &Docs{Types: map[string]string{}, Fields: map[string]string{}, Enums: map[string][]string{}}
	for _, t := range pkg.Types {
		d.Types[t.Name] = text(t.Doc)
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != t.Name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, f := range st.Fields.List {
				c := f.Doc
				if c == nil {
					c = f.Comment
				}
				if c == nil {
					continue
				}
				for _, n := range f.Names {
					d.Fields[t.Name+"."+n.Name] = text(c.Text())
				}
			}
		}
		for _, c := range t.Consts {
			for _, spec := range c.Decl.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok || len(vs.Values) != len(vs.Names) {
					continue
				}
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != t.Name {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err == nil {
						d.Enums[t.Name] = append(d.Enums[t.Name], s)
					}
				}
			}
		}
	}
	return d, nil
}

// text turns a doc comment into a description: lines of a paragraph joined, paragraphs kept.
func text(c string) string {
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(c), "\n\n") {
		lines := strings.Fields(strings.ReplaceAll(p, "\n", " "))
		if len(lines) > 0 {
			paras = append(paras, strings.Join(lines, " "))
		}
	}
	return strings.Join(paras, "\n\n")
}
