// Package cli dispatches rqlite-fn's subcommands. Each command is a function of its arguments and
// streams, so tests run it in-process exactly as a user runs the binary.
package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/krm"
	"github.com/rqlite/rqlite-krm/fn/render"
)

// Version is set at build time with -ldflags "-X github.com/rqlite/rqlite-krm/fn/cli.Version=…".
var Version = "dev"

// Command is one subcommand.
type Command struct {
	Summary string
	Run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// Commands is the subcommand table; other packages' commands are registered in commands.go.
var Commands = map[string]Command{
	"render":  {"render RqliteSpec files (or - for stdin) to a YAML stream of manifests", renderCommand},
	"version": {"print the version", versionCommand},
}

// Main runs the function: KRM mode with no arguments, otherwise the named subcommand.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		if isTerminal(stdin) {
			fmt.Fprint(stderr, krmOnTerminal)
			usage(stderr)
			return exitUsage
		}
		return runKRM(stdin, stdout, stderr)
	}
	if cmd, ok := Commands[args[0]]; ok {
		return cmd.Run(args[1:], stdin, stdout, stderr)
	}
	if args[0] == "help" && len(args) > 1 {
		if _, ok := Commands[args[1]]; ok {
			return Main(append([]string{args[1], "--help"}, args[2:]...), stdin, stdout, stderr)
		}
	}
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "rqlite-fn: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rqlite-fn                 KRM function: ResourceList on stdin, ResourceList on stdout")
	names := make([]string, 0, len(Commands))
	for n := range Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       rqlite-fn %-14s %s\n", n, Commands[n].Summary)
	}
}

// runKRM reads a ResourceList, runs the generator and writes the ResourceList back. Problems are
// also printed to stderr: kustomize shows stderr, not the results, when a function fails.
func runKRM(stdin io.Reader, stdout, stderr io.Writer) int {
	// A KRM run is a short batch: it reads everything, builds the output and exits, and what it
	// allocates is mostly garbage within a spec. Collecting a quarter as often cuts its CPU time by
	// a fifth for a package of 1,000 specs, for a larger peak heap (bench/, docs/benchmarks.md); a
	// single spec never reaches a first collection either way. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	in, err := readInput("-", stdin)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: %v\n", err)
		return 1
	}
	rl, err := krm.ParseResourceList(in)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: stdin is not a KRM ResourceList (%v); to render a spec file run: rqlite-fn render FILE\n", err)
		return 1
	}
	if cmd, set := krm.Command(rl); set {
		if cmd == "verify" {
			return verifyResourceList(in, stdout, stderr)
		}
		return unknownKRMCommand(rl, cmd, stdout, stderr)
	}
	ok := krm.Process(rl)
	out, err := krm.ToYAML(rl)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: writing ResourceList: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: writing ResourceList: %v\n", err)
		return 1
	}
	for _, m := range krm.SortedMessages(rl.Results) {
		fmt.Fprintln(stderr, m)
	}
	if !ok {
		return 1
	}
	return 0
}

// unknownKRMCommand fails a ResourceList whose function config asks for a command KRM mode does
// not have, without touching anything: a typo must not fall back to generating.
func unknownKRMCommand(rl *krm.ResourceList, cmd string, stdout, stderr io.Writer) int {
	fc := rl.FunctionConfig
	r := &krm.Result{
		Severity: krm.Error,
		Message: fmt.Sprintf("data.%s %q is not something the function does: the only command is verify "+
			"(a ConfigMap without data.%s is not a function config; the generator takes an RqliteSpec)", krm.CommandKey, cmd, krm.CommandKey),
		ResourceRef: &krm.ResourceRef{APIVersion: fc.APIVersion(), Kind: fc.Kind(), Name: fc.Name(), Namespace: fc.Namespace()},
		Field:       &krm.Field{Path: "data." + krm.CommandKey, ProposedValue: "verify"},
	}
	rl.Items = []*krm.Object{}
	rl.Results = append(rl.Results, r)
	if out, err := krm.ToYAML(rl); err == nil {
		_, _ = stdout.Write(out)
	}
	fmt.Fprintln(stderr, r.String())
	return 1
}

// runRender prints the manifests for one or more spec files. Nothing is printed to stdout unless
// every spec is valid, every input holds at least one spec, and no two specs generate the same
// object: an empty or half output is what a pruning apply would act on.
func runRender(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: rqlite-fn render FILE... (- reads stdin)")
		return 2
	}
	var claims []generate.Claim
	var rendered [][]render.Object
	var prefixes []string // where each claim's problems are printed: "FILE: document N"
	failed := false
	for _, a := range args {
		in, err := readInput(a, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn: %v\n", err)
			failed = true
			continue
		}
		docs := documents(in)
		if len(docs) == 0 {
			fmt.Fprintf(stderr, "%s: [error] no RqliteSpec: the input holds no document (it is empty, or only comments and ---); "+
				"an empty render would make a pruning apply delete the cluster (write a spec, see examples/rqlite.yaml)\n", a)
			failed = true
			continue
		}
		for i, d := range docs {
			res := generate.FromYAML(d.text)
			where := fmt.Sprintf("%s: document %d", a, i+1)
			for _, p := range res.Problems {
				printProblem(stderr, where, d.line, p)
			}
			if res.Problems.HasErrors() {
				failed = true
				continue
			}
			claims = append(claims, generate.Claim{
				Namespace: res.Spec.Metadata.Namespace, Name: res.Spec.Metadata.Name,
				Where: fmt.Sprintf("%s, document %d", a, i+1), Objects: generate.Refs(res.Objects),
			})
			rendered = append(rendered, res.Objects)
			prefixes = append(prefixes, where)
		}
	}
	for _, c := range generate.Collisions(claims) {
		printProblem(stderr, prefixes[c.Index], 0, c.Problem)
		failed = true
	}
	if failed {
		return 1
	}
	var out []byte
	for i, objs := range rendered {
		b, err := render.EncodeAll(objs)
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn: %s: %v\n", claims[i].Where, err)
			return 1
		}
		out = append(out, b...)
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: %v\n", err)
		return 1
	}
	return 0
}

// printProblem writes one problem of a document; first is the line of the input the document
// starts on, so that the line of a YAML problem is the input's.
func printProblem(w io.Writer, where string, first int, p v1alpha1.Problem) {
	sev := "error"
	if p.Warning {
		sev = "warning"
	}
	if p.Line > 0 {
		where += fmt.Sprintf(", line %d", first+p.Line-1)
	}
	fmt.Fprintf(w, "%s: [%s] %s\n", where, sev, p)
}
