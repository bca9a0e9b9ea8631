package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Every subcommand reads its arguments the same way: the standard flag package, flags allowed
// before and after the positional arguments (CI scripts append --output json last), "--" ending
// the flags (render -- --help reads a file named --help), -h/--help printing the usage to stdout
// with exit 0, and an unknown flag or a stray argument printing the error and the usage to
// stderr with exit 2.

const exitUsage = 2

// newFlagSet is a subcommand's flag set. The flag package prints nothing itself: parseArgs
// decides where help and errors go.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// argCount is how many positional arguments a command takes, and what to say when too few are
// given.
type argCount struct {
	min, max int // max < 0: no limit
	missing  string
}

var (
	noArgs   = argCount{max: 0}
	anyFiles = argCount{max: -1}
	files    = argCount{min: 1, max: -1, missing: "no FILE given (- reads stdin)"}
)

// parseArgs parses a subcommand's arguments. ok is false when the command must stop, with code
// its exit status (0 after -h/--help).
func parseArgs(fs *flag.FlagSet, usage string, args []string, want argCount, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs, usage)
			return nil, 0, false
		}
		if err != nil {
			return nil, usageError(stderr, fs, usage, flagError(err, args)), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// The flag package stops at "--" (which it consumes) and at the first argument that is
		// not a flag; only the second lets flags follow.
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) < want.min:
		return nil, usageError(stderr, fs, usage, want.missing), false
	case want.max >= 0 && len(pos) > want.max:
		return nil, usageError(stderr, fs, usage, fmt.Sprintf("unexpected arguments %q", pos[want.max:])), false
	}
	return pos, 0, true
}

// flagError names an unknown flag as it was written (--set, not the flag package's -set).
func flagError(err error, args []string) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return err.Error()
	}
	for _, a := range args {
		// Only the name: the value of a mistyped flag may be a password.
		written, _, _ := strings.Cut(a, "=")
		if strings.HasPrefix(a, "-") && strings.TrimLeft(written, "-") == name {
			return fmt.Sprintf("unknown flag %q", written)
		}
	}
	return fmt.Sprintf("unknown flag %q", "-"+name)
}

func usageError(stderr io.Writer, fs *flag.FlagSet, usage, msg string) int {
	fmt.Fprintf(stderr, "rqlite-fn %s: %s\n\n", fs.Name(), msg)
	printUsage(stderr, fs, usage)
	return exitUsage
}

// printUsage prints a command's usage text and, when it has flags, their descriptions.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags && !strings.Contains(usage, "\nflags:\n") {
		fmt.Fprint(w, "\nflags:\n")
	}
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

const renderUsage = `usage: rqlite-fn render [--] FILE...

Renders every RqliteSpec in the files (- reads stdin) to one YAML stream of manifests on stdout.
Nothing is written unless every spec is valid; problems go to stderr with their field paths.
"--" ends the flags: rqlite-fn render -- --help reads a file named --help.

exit 0: rendered; 1: a spec is invalid or a file cannot be read; 2: usage
`

func renderCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	pos, code, ok := parseArgs(newFlagSet("render"), renderUsage, args, files, stdout, stderr)
	if !ok {
		return code
	}
	return runRender(pos, stdin, stdout, stderr)
}

const versionUsage = "usage: rqlite-fn version\n\nPrints the version of rqlite-fn.\n"

func versionCommand(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if _, code, ok := parseArgs(newFlagSet("version"), versionUsage, args, noArgs, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintln(stdout, Version)
	return 0
}

// krmOnTerminal is what KRM mode says when nobody pipes a ResourceList into it: run by hand
// without arguments, it would otherwise wait for input in silence.
const krmOnTerminal = `rqlite-fn: without a command rqlite-fn is a KRM function: it reads a ResourceList on stdin, as
kustomize, kpt and Argo CD pass it, and stdin is a terminal. To render a spec file run:
  rqlite-fn render FILE

`

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
