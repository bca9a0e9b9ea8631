// Package kustomize runs the repository's kustomize base and overlays, the kpt package and the
// container form of the function through the real tools (kustomize v5.8.2, kpt 1.0.0-beta.5x),
// with the rqlite-fn built from this tree, and checks the Argo CD plugin's configuration files
// (the plugin itself runs in its real sidecar in e2e/argocd).
//
// TestMain builds rqlite-fn with `go build` into a temporary directory and every tool invocation
// gets that directory first on PATH: the base names the function `rqlite-fn`, a bare name kustomize
// and kpt both look up on PATH. Nothing under bin/ is used or written, so a stale `make build`
// cannot hide a change and concurrent runs do not race on it.
//
// A missing kustomize or kpt fails the test (never skips it); `make tools` installs them.
package kustomize

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/overlays/*.yaml and examples/kpt{,-exec}/rqlite.generated.yaml from the real tools' output (review the diff)")

var (
	repoRoot string
	// fnDir holds the rqlite-fn built for this run. It is world-readable so the container
	// emulation can run the binary as nobody.
	fnDir string
	fnBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	repoRoot, err = testenv.RepoRootDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/kustomize:", err)
		return 1
	}
	fnDir, err = os.MkdirTemp("", "rqlite-krm-e2e-fn-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/kustomize:", err)
		return 1
	}
	defer os.RemoveAll(fnDir)
	if err := os.Chmod(fnDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/kustomize:", err)
		return 1
	}
	if fnBin, err = testenv.BuildFunction(fnDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/kustomize:", err)
		return 1
	}
	return m.Run()
}

func repoPath(parts ...string) string { return filepath.Join(append([]string{repoRoot}, parts...)...) }

// toolEnv is the whole environment of a tool run: nothing leaks in from the developer's shell.
// PATH lists the freshly built function first, then the pinned tools.
func toolEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	kustomize := testenv.Tool(t, "kustomize")
	return append([]string{
		"PATH=" + strings.Join([]string{fnDir, filepath.Dir(kustomize), "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"HOME=" + t.TempDir(),
		"LANG=C",
	}, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// execIn runs a command and returns its output and exit code; only failing to start it at all is
// fatal, because several tests are about commands that must fail.
func execIn(t *testing.T, dir string, env []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// kustomizeBuild runs `kustomize build <flags> <dir>` from the repository root and fails the test
// unless it exits 0.
func kustomizeBuild(t *testing.T, dir string, flags ...string) result {
	t.Helper()
	args := append([]string{"build"}, flags...)
	r := execIn(t, repoRoot, toolEnv(t), nil, testenv.Tool(t, "kustomize"), append(args, dir)...)
	if r.code != 0 {
		t.Fatalf("kustomize %s %s: exit %d\n%s", strings.Join(args, " "), dir, r.code, r.stderr)
	}
	return r
}

var execFlags = []string{"--enable-alpha-plugins", "--enable-exec"}

// obj is one decoded manifest with helpers for the fields tests read.
type obj map[string]any

func (o obj) kind() string { s, _ := o["kind"].(string); return s }
func (o obj) meta() map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}
func (o obj) name() string      { s, _ := o.meta()["name"].(string); return s }
func (o obj) namespace() string { s, _ := o.meta()["namespace"].(string); return s }
func (o obj) strMap(key string) map[string]string {
	out := map[string]string{}
	if m, ok := o.meta()[key].(map[string]any); ok {
		for k, v := range m {
			out[k], _ = v.(string)
		}
	}
	return out
}

// into decodes the object into a typed API struct.
func (o obj) into(t *testing.T, v any) {
	t.Helper()
	b, err := yaml.Marshal(map[string]any(o))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v", o.kind(), o.name(), err)
	}
}

func decode(t *testing.T, stream string) []obj {
	t.Helper()
	docs, err := verify.Decode([]byte(stream))
	if err != nil {
		t.Fatalf("output is not a YAML stream: %v", err)
	}
	out := make([]obj, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out
}

func find(t *testing.T, objs []obj, kind, name string) obj {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s %q in the output", kind, name)
	return nil
}

func ofKind(objs []obj, kind string) []obj {
	var out []obj
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func kindCounts(objs []obj) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		m[o.kind()]++
	}
	return m
}

// copyTree copies a directory (files keep their mode) so tools that write can run on a copy.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every file under dir, for byte-for-byte comparisons.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "removed "+k)
		} else if v != w {
			out = append(out, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	return out
}

// golden compares output with a reviewed file, or rewrites it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file missing (%v): run `go test ./e2e/kustomize -update` (or `make golden`) and review the diff", err)
	}
	if string(want) != got {
		t.Fatalf("output differs from %s: if the change is intended, run `go test ./e2e/kustomize -update` (or `make golden`) and review the diff\n%s",
			path, firstDifference(string(want), got))
	}
}

func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("first difference at line %d:\n  want: %q\n  got:  %q", i+1, w, g)
		}
	}
	return ""
}
