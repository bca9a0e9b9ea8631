// Command rqlitedflags writes fn/api/v1alpha1's table of rqlited's command-line flags from the
// source of the rqlited the project builds (hack/tools/rqlited pins the release), so that
// spec.*.extraArgs are checked against the flags that binary really has:
//
//	go generate ./fn/api/v1alpha1    # runs: go run ../../../hack/rqlitedflags -o rqlited_flags.go
//
// It reads the flag registrations (fs.BoolVar(&…, "name", …) and friends) of
// cmd/rqlited/config_flags.go in the module cache and records each flag's name and the kind of
// value it takes; nothing else of the source is used. A registration it does not understand is an
// error, never a silently shorter table. TestFlagTableMatchesRqlited checks the result against
// `rqlited -h` of the built binary.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	module     = "github.com/rqlite/rqlite/v8"
	flagsFile  = "cmd/rqlited/config_flags.go"
	toolsDir   = "hack/tools/rqlited" // relative to the repository root
	outPackage = "v1alpha1"
)

// kinds maps the flag package's registration functions to the FlagKind constants of the table.
var kinds = map[string]string{
	"BoolVar":     "FlagBool",
	"StringVar":   "FlagString",
	"IntVar":      "FlagInt",
	"Uint64Var":   "FlagUint64",
	"DurationVar": "FlagDuration",
}

func main() {
	out := flag.String("o", "", "output file (default: stdout)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "rqlitedflags:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	code, err := generateFromModule()
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(code)
		return err
	}
	return os.WriteFile(out, code, 0o644)
}

// generateFromModule is the whole generator: find the pinned source, read its flags, write Go.
func generateFromModule() ([]byte, error) {
	src, version, err := moduleDir()
	if err != nil {
		return nil, err
	}
	flags, err := parseFlags(filepath.Join(src, flagsFile))
	if err != nil {
		return nil, err
	}
	return Generate(flags, version)
}

// moduleDir finds the rqlite module the tools module builds rqlited from, downloading it into the
// module cache if needed (the tools module's go.sum pins its content).
func moduleDir() (dir, version string, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = filepath.Join(root, toolsDir)
	// The tools module stands alone: a go.work above the repository, or -mod=… in GOFLAGS,
	// would change which version is resolved.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s in %s: %v: %s", module, toolsDir, err, strings.TrimSpace(stderr.String()))
	}
	var m struct{ Dir, Version, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: %s", module, m.Error)
	}
	return m.Dir, m.Version, nil
}

// repoRoot walks up from the working directory to the rqlite-krm module's go.mod (go generate
// runs in the package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/rqlite/rqlite-krm\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the rqlite-krm repository")
		}
		dir = parent
	}
}

// Flag is one registration: the name on the command line and the FlagKind constant.
type Flag struct{ Name, Kind string }

// parseFlags reads every fs.<Kind>Var(&field, "name", default, usage) call of the file. Commented
// out registrations (rqlite keeps some) are not calls and do not count, as they do not in rqlited.
func parseFlags(path string) ([]Flag, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var flags []Flag
	var errs []error
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fs" || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		pos := fset.Position(call.Pos())
		kind, ok := kinds[sel.Sel.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: fs.%s: a flag kind this generator does not know; add it to kinds and FlagKind", pos, sel.Sel.Name))
			return true
		}
		if len(call.Args) != 4 {
			errs = append(errs, fmt.Errorf("%s: fs.%s with %d arguments, expected 4", pos, sel.Sel.Name, len(call.Args)))
			return true
		}
		lit, ok := call.Args[1].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			errs = append(errs, fmt.Errorf("%s: fs.%s: the flag name is not a string literal", pos, sel.Sel.Name))
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pos, err))
			return true
		}
		flags = append(flags, Flag{Name: name, Kind: kind})
		return true
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(flags) == 0 {
		return nil, fmt.Errorf("%s registers no flags: has rqlited moved its flag definitions?", path)
	}
	return flags, nil
}

// Generate writes the table as Go source, sorted by name so that it is deterministic.
func Generate(flags []Flag, version string) ([]byte, error) {
	flags = append([]Flag(nil), flags...)
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hack/rqlitedflags from %s %s %s; DO NOT EDIT.\n\n", module, version, flagsFile)
	fmt.Fprintf(&b, "package %s\n\n", outPackage)
	b.WriteString("// RqlitedFlagsVersion is the rqlited release whose flags RqlitedFlags lists: the one\n")
	b.WriteString("// hack/tools/rqlited builds and every test runs.\n")
	fmt.Fprintf(&b, "const RqlitedFlagsVersion = %q\n\n", version)
	b.WriteString("// RqlitedFlags are rqlited's command-line flags and the kind of value each takes.\n")
	b.WriteString("var RqlitedFlags = map[string]FlagKind{\n")
	for i, f := range flags {
		if i > 0 && flags[i-1].Name == f.Name {
			return nil, fmt.Errorf("flag %q is registered twice", f.Name)
		}
		fmt.Fprintf(&b, "\t%q: %s,\n", f.Name, f.Kind)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
