package cli_test

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/cli"
	"golang.org/x/sys/unix"
)

// stray is, per command, arguments it must refuse: an unknown flag, and a positional argument for
// the commands that take none (or one too many). A command added to cli.Commands without an entry
// here fails the test.
var stray = map[string][][]string{
	"render":           {{"--bogus", "x.yaml"}},
	"version":          {{"extra"}, {"--bogus"}},
	"verify":           {{"--bogus"}},
	"plan":             {{"a.yaml", "b.yaml", "c.yaml"}, {"--git", "HEAD", "HEAD"}, {"--bogus", "a.yaml", "b.yaml"}},
	"import-helm":      {{"--bogus", "values.yaml", "--namespace", "db"}},
	"import-manifests": {{"--bogus", "statefulset.yaml", "--namespace", "guide"}},
	"schema":           {{"extra"}, {"--bogus"}},
	"exporter":         {{"extra"}, {"--bogus"}},
	"shrink":           {{"extra"}, {"--bogus"}},
}

// TestEveryCommandConventions: every subcommand prints its usage to stdout and exits 0 for -h and
// --help (also as `rqlite-fn help CMD`), and refuses a stray argument or an unknown flag with exit
// 2, a message and the usage on stderr, and nothing on stdout.
func TestEveryCommandConventions(t *testing.T) {
	names := make([]string, 0, len(cli.Commands))
	for n := range cli.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, help := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
				code, out, errb := run(t, "", help...)
				if code != 0 || !strings.HasPrefix(out, "usage: rqlite-fn "+name) || errb != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want the usage on stdout and exit 0", help, code, head(out), errb)
				}
			}
			cases, ok := stray[name]
			if !ok {
				t.Fatalf("no stray-argument case for command %q: add one to the stray table", name)
			}
			for _, args := range cases {
				code, out, errb := run(t, "", append([]string{name}, args...)...)
				if code != 2 || out != "" || !strings.Contains(errb, "rqlite-fn "+name+": ") || !strings.Contains(errb, "usage: rqlite-fn "+name) {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with a message and the usage on stderr", args, code, head(out), head(errb))
				}
			}
		})
	}
}

func head(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func TestUnknownFlagNamedAsWritten(t *testing.T) {
	_, _, errb := run(t, "", "shrink", "--password=secret")
	if !strings.Contains(errb, `unknown flag "--password"`) || strings.Contains(errb, "secret") {
		t.Errorf("stderr %q: want the flag's name as written and never its value", head(errb))
	}
}

// "--" ends the flags: a file really named --help is rendered, and --help before it is help.
func TestRenderDoubleDash(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("--help", []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errb := run(t, "", "render", "--", "--help")
	if code != 0 || !strings.Contains(out, "kind: StatefulSet") {
		t.Errorf("render -- --help: exit %d, stderr %q; want the file rendered", code, errb)
	}
	code, out, _ = run(t, "", "render", "--help")
	if code != 0 || !strings.HasPrefix(out, "usage: rqlite-fn render") {
		t.Errorf("render --help: exit %d; want the usage", code)
	}
	code, out, errb = run(t, "", "render", filepath.Join("missing.yaml"), "--", "--help")
	if code != 1 || out != "" || !strings.Contains(errb, "missing.yaml") {
		t.Errorf("render missing.yaml -- --help: exit %d, stdout %q, stderr %q", code, head(out), errb)
	}
}

func TestVersion(t *testing.T) {
	code, out, errb := run(t, "", "version")
	if code != 0 || strings.TrimSpace(out) != cli.Version || errb != "" {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, out, errb)
	}
}

// openPTY opens a pseudo-terminal pair; the replica end is a real terminal for isatty.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("a pseudo-terminal is needed to test KRM mode on a terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(filepath.Join("/dev/pts", strconv.Itoa(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

// KRM mode with a terminal on stdin says what it expects instead of waiting in silence.
func TestKRMOnATerminal(t *testing.T) {
	tty := openPTY(t)
	var out, errb strings.Builder
	code := cli.Main(nil, tty, &out, &errb)
	if code != 2 || out.String() != "" || !strings.Contains(errb.String(), "ResourceList on stdin") || !strings.Contains(errb.String(), "rqlite-fn render FILE") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and what KRM mode expects", code, out.String(), errb.String())
	}
}
