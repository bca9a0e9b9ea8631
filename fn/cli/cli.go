// Package cli dispatches rqlite-fn's subcommands. Each command is a function of its arguments and
// streams, so tests run it in-process exactly as a user runs the binary.
package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

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
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: reading stdin: %v\n", err)
		return 1
	}
	rl, err := krm.ParseResourceList(in)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: stdin is not a KRM ResourceList (%v); to render a spec file run: rqlite-fn render FILE\n", err)
		return 1
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

// runRender prints the manifests for one or more spec files. Nothing is printed to stdout unless
// every spec is valid.
func runRender(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: rqlite-fn render FILE... (- reads stdin)")
		return 2
	}
	var out []byte
	failed := false
	for _, a := range args {
		var doc []byte
		var err error
		if a == "-" {
			doc, err = io.ReadAll(stdin)
		} else {
			doc, err = os.ReadFile(a)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn: %v\n", err)
			failed = true
			continue
		}
		for i, d := range splitDocuments(doc) {
			res := generate.FromYAML(d)
			for _, p := range res.Problems {
				sev := "error"
				if p.Warning {
					sev = "warning"
				}
				fmt.Fprintf(stderr, "%s: document %d: [%s] %s\n", a, i+1, sev, p)
			}
			if res.Problems.HasErrors() {
				failed = true
				continue
			}
			b, err := render.EncodeAll(res.Objects)
			if err != nil {
				fmt.Fprintf(stderr, "rqlite-fn: %s: %v\n", a, err)
				failed = true
				continue
			}
			out = append(out, b...)
		}
	}
	if failed {
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "rqlite-fn: %v\n", err)
		return 1
	}
	return 0
}

// splitDocuments splits a YAML stream on document separators, skipping empty documents.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		d := strings.Join(cur, "\n")
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
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

func stripComments(d string) string {
	var b strings.Builder
	for _, l := range strings.Split(d, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}
