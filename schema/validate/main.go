// Command validate checks YAML documents against the published RqliteSpec JSON Schema with an
// independent validator (santhosh-tekuri/jsonschema, JSON Schema draft 2020-12), the way an editor
// or a CI job sees the schema. It is a module of its own so the function's go.mod does not carry a
// validator it never uses at run time.
//
//	go -C schema/validate run . [-schema FILE] [-json] [-skip-other-kinds] FILE...
//
// Paths are taken as given; with `go -C` they are relative to schema/validate, so pass absolute
// paths ("$PWD"/examples/rqlite.yaml). Exit status: 0 every document valid, 1 some invalid, 2 usage
// or unreadable input.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"sigs.k8s.io/yaml"
)

// Result is one document's verdict; -json prints a list of them.
type Result struct {
	File     string    `json:"file"`
	Document int       `json:"document"`
	Kind     string    `json:"kind,omitempty"`
	Valid    bool      `json:"valid"`
	Skipped  bool      `json:"skipped,omitempty"`
	Errors   []Problem `json:"errors,omitempty"`
}

// Problem is one schema violation: where in the document and what.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemaPath := fs.String("schema", defaultSchema(), "the JSON Schema file")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	skipOthers := fs.Bool("skip-other-kinds", false, "skip documents whose kind is not RqliteSpec (for globs over a repository)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: validate [-schema FILE] [-json] [-skip-other-kinds] FILE...")
		return 2
	}
	sch, err := compile(*schemaPath)
	if err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return 2
	}
	var results []Result
	for _, f := range fs.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "validate: %v\n", err)
			return 2
		}
		for i, doc := range splitDocuments(data) {
			results = append(results, check(sch, f, i+1, doc, *skipOthers))
		}
	}
	code := 0
	for _, r := range results {
		if !r.Valid && !r.Skipped {
			code = 1
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(results, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return code
	}
	for _, r := range results {
		switch {
		case r.Skipped:
		case r.Valid:
			fmt.Fprintf(stdout, "%s#%d: ok\n", r.File, r.Document)
		default:
			fmt.Fprintf(stdout, "%s#%d: invalid\n", r.File, r.Document)
			for _, p := range r.Errors {
				path := p.Path
				if path == "" {
					path = "(document)"
				}
				fmt.Fprintf(stdout, "  %s: %s\n", path, p.Message)
			}
		}
	}
	return code
}

// defaultSchema is the schema beside this module, found through the source location: `go run`
// compiles from source, so it is always there.
func defaultSchema() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "rqlitespec.schema.json"
	}
	return filepath.Join(filepath.Dir(file), "..", "rqlitespec.schema.json")
}

func compile(path string) (*jsonschema.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	url := "file:///rqlitespec.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

func check(sch *jsonschema.Schema, file string, n int, doc []byte, skipOthers bool) Result {
	r := Result{File: file, Document: n}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		r.Errors = []Problem{{Path: "", Message: "not valid YAML: " + err.Error()}}
		return r
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		r.Errors = []Problem{{Path: "", Message: err.Error()}}
		return r
	}
	if m, ok := v.(map[string]any); ok {
		r.Kind, _ = m["kind"].(string)
	}
	if skipOthers && r.Kind != "RqliteSpec" {
		r.Skipped = true
		return r
	}
	err = sch.Validate(v)
	if err == nil {
		r.Valid = true
		return r
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		r.Errors = []Problem{{Message: err.Error()}}
		return r
	}
	r.Errors = leaves(ve)
	return r
}

// leaves keeps the innermost errors: the outer ones ("$ref", "allOf") only say that an inner one
// failed. Each comes with the path of the value it concerns.
func leaves(ve *jsonschema.ValidationError) []Problem {
	printer := message.NewPrinter(language.English)
	var out []Problem
	seen := map[Problem]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			p := Problem{Path: dotted(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// dotted writes a value's location the way the function's own errors do: spec.voters.replicas,
// tolerations[0].
func dotted(loc []string) string {
	var b strings.Builder
	for _, seg := range loc {
		if isIndex(seg) {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(seg)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// splitDocuments splits a YAML stream on `---` lines and drops documents holding only comments.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		for _, l := range cur {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, []byte(strings.Join(cur, "\n")))
				break
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}
