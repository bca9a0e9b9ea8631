package kustomize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// kptPackage copies examples/kpt to a temporary directory: kpt writes into the package.
func kptPackage(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rqlite")
	copyTree(t, repoPath("examples", "kpt"), dir)
	return dir
}

// kpt runs kpt in the package's parent directory with bin/ on PATH: the Kptfile names the
// functions (`exec: rqlite-fn`), and kpt resolves exec paths against its own working directory.
func kpt(t *testing.T, pkg string, stdin []byte, args ...string) result {
	t.Helper()
	return execIn(t, filepath.Dir(pkg), toolEnv(t), stdin, testenv.Tool(t, "kpt"), args...)
}

func render(t *testing.T, pkg string) result {
	t.Helper()
	return kpt(t, pkg, nil, "fn", "render", "--allow-exec", pkg)
}

// TestGoldenKptPackage renders a copy of examples/kpt twice: the committed package must already be
// the rendered state (rqlite.generated.yaml up to date), and rendering again changes no byte.
// Under -update the rendered file is written back to examples/kpt.
func TestGoldenKptPackage(t *testing.T) {
	pkg := kptPackage(t)
	committed := snapshot(t, pkg)

	r := render(t, pkg)
	if r.code != 0 {
		t.Fatalf("kpt fn render: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{`[PASS] "rqlite-fn"`, `[PASS] "rqlite-fn verify"`} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("kpt output lacks %s:\n%s", w, r.stderr)
		}
	}
	first := snapshot(t, pkg)
	if *update {
		generated := filepath.Join("examples", "kpt", "rqlite.generated.yaml")
		if err := os.WriteFile(repoPath(generated), []byte(first["rqlite.generated.yaml"]), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if d := diffSnapshots(committed, first); len(d) > 0 {
		t.Errorf("rendering the committed package changed it (%v): the committed rqlite.generated.yaml is stale; run `go test ./e2e/kustomize -update` (or `make golden`) and review the diff\n%s",
			d, firstDifference(committed["rqlite.generated.yaml"], first["rqlite.generated.yaml"]))
	}

	if r := render(t, pkg); r.code != 0 {
		t.Fatalf("second render: exit %d\n%s", r.code, r.stderr)
	}
	if d := diffSnapshots(first, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("second render changed the package: %v", d)
	}

	rep, err := verify.Stream([]byte(first["rqlite.generated.yaml"]))
	if err != nil || !rep.OK() {
		t.Errorf("rendered package does not verify: %v %v", err, rep.Problems)
	}
	if strings.Contains(first["rqlite.generated.yaml"], "internal.config.kubernetes.io") {
		t.Error("kpt bookkeeping annotations were written to the package")
	}
}

// TestKptRenderInvalidSpecWritesNothing: a spec error fails the pipeline and leaves every file of
// the package as it was; nothing half-rendered is written.
func TestKptRenderInvalidSpecWritesNothing(t *testing.T) {
	pkg := kptPackage(t)
	spec := filepath.Join(pkg, "rqlite.yaml")
	b, _ := os.ReadFile(spec)
	broken := strings.Replace(string(b), "replicas: 3", "replicas: 0", 1)
	if broken == string(b) {
		t.Fatal("examples/kpt/rqlite.yaml no longer has voters.replicas: 3")
	}
	if err := os.WriteFile(spec, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pkg)
	r := render(t, pkg)
	if r.code == 0 {
		t.Fatalf("kpt accepted 0 voters:\n%s", r.stderr)
	}
	if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("a failed render changed the package: %v", d)
	}
}

// TestKptRenderInvalidSpecShowsResults: the user must see why. kpt prints a function's results
// only if its output parses as a ResourceList, which needs an `items` key even when a failed run
// cleared them; without it kpt reports "resource must have `metadata.name`" and hides the reason.
// krm.ToYAML writes the key; the KRM entry point (fn/cli runKRM) must encode with it.
func TestKptRenderInvalidSpecShowsResults(t *testing.T) {
	pkg := kptPackage(t)
	spec := filepath.Join(pkg, "rqlite.yaml")
	b, _ := os.ReadFile(spec)
	if err := os.WriteFile(spec, []byte(strings.Replace(string(b), "replicas: 3", "replicas: 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := render(t, pkg)
	if r.code == 0 {
		t.Fatal("kpt accepted 0 voters")
	}
	if !strings.Contains(r.stderr, "0 voters cannot form a cluster") {
		t.Errorf("kpt does not show the spec problem (fn/cli runKRM must encode with krm.ToYAML, not rl.ToYAML):\n%s", r.stderr)
	}
}

// TestKptRenderFollowsSpecChanges scales the voters and drops the read-only pool: the objects of
// the old render are replaced and removed, not duplicated, and the next render is a no-op.
func TestKptRenderFollowsSpecChanges(t *testing.T) {
	pkg := kptPackage(t)
	spec := filepath.Join(pkg, "rqlite.yaml")
	b, _ := os.ReadFile(spec)
	changed := strings.Replace(string(b), "replicas: 3", "replicas: 5", 1)
	changed = strings.Replace(changed, "  readOnly:\n    replicas: 2\n", "", 1)
	changed = strings.Replace(changed, "namespace: rqlite", "namespace: moved", 1)
	if err := os.WriteFile(spec, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := render(t, pkg); r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	after := snapshot(t, pkg)
	gen := after["rqlite.generated.yaml"]
	objs := decode(t, gen)
	if len(ofKind(objs, "StatefulSet")) != 1 || len(ofKind(objs, "Service")) != 2 || len(ofKind(objs, "PodDisruptionBudget")) != 1 {
		t.Errorf("the read-only pool's objects survived: %v", kindCounts(objs))
	}
	for _, o := range objs {
		if strings.Contains(o.name(), "readonly") {
			t.Errorf("%s %s survived", o.kind(), o.name())
		}
	}
	for _, o := range objs {
		if o.namespace() != "moved" {
			t.Errorf("%s %s left in namespace %q", o.kind(), o.name(), o.namespace())
		}
	}
	if got := find(t, objs, "StatefulSet", "rqlite")["spec"].(map[string]any)["replicas"]; got != float64(5) {
		t.Errorf("replicas %v", got)
	}
	if rep := verify.Check(docs(objs)); !rep.OK() {
		t.Errorf("verify: %v", rep.Problems)
	}
	if r := render(t, pkg); r.code != 0 {
		t.Fatalf("second render: exit %d\n%s", r.code, r.stderr)
	}
	if d := diffSnapshots(after, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("second render changed the package: %v", d)
	}
}

// TestKptValidatorCatchesBrokenReference: the Kptfile's `rqlite-fn verify` validator fails the
// render when an object in the package breaks a reference, and the package stays as it was.
func TestKptValidatorCatchesBrokenReference(t *testing.T) {
	pkg := kptPackage(t)
	stray := `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: rqlite-ro
  namespace: rqlite
  labels:
    app.kubernetes.io/managed-by: rqlite-krm
    app.kubernetes.io/instance: rqlite
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: rqlite-ro}
  maxReplicas: 3
`
	if err := os.WriteFile(filepath.Join(pkg, "hpa.yaml"), []byte(stray), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pkg)
	r := render(t, pkg)
	if r.code == 0 {
		t.Fatalf("the validator let a broken reference through:\n%s", r.stderr)
	}
	if want := "HorizontalPodAutoscaler rqlite/rqlite-ro spec.scaleTargetRef -> StatefulSet rqlite/rqlite-ro: no such StatefulSet"; !strings.Contains(r.stderr, want) {
		t.Errorf("kpt output lacks %q:\n%s", want, r.stderr)
	}
	if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("a failed render changed the package: %v", d)
	}
}

// TestKptFnEval covers the imperative forms documented in docs/integration.md.
func TestKptFnEval(t *testing.T) {
	t.Run("package", func(t *testing.T) {
		// `kpt fn eval DIR --exec rqlite-fn` renders the specs the package holds; kpt sends a
		// placeholder function config the function must not mistake for a wrong one.
		pkg := kptPackage(t)
		want, _ := os.ReadFile(filepath.Join(pkg, "rqlite.generated.yaml"))
		if err := os.Remove(filepath.Join(pkg, "rqlite.generated.yaml")); err != nil {
			t.Fatal(err)
		}
		r := kpt(t, pkg, nil, "fn", "eval", pkg, "--exec", "rqlite-fn")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		got, err := os.ReadFile(filepath.Join(pkg, "rqlite.generated.yaml"))
		if err != nil || string(got) != string(want) {
			t.Errorf("eval wrote a different rqlite.generated.yaml than render (%v):\n%s", err, firstDifference(string(want), string(got)))
		}
	})
	t.Run("stdin with fn-config", func(t *testing.T) {
		// `kpt fn eval - --exec rqlite-fn --fn-config spec.yaml -o unwrap` prints the manifests.
		pkg := kptPackage(t)
		r := kpt(t, pkg, []byte{}, "fn", "eval", "-", "--exec", "rqlite-fn", "--fn-config", filepath.Join(pkg, "rqlite.yaml"), "-o", "unwrap")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		objs := decode(t, r.stdout)
		committed := decode(t, snapshot(t, pkg)["rqlite.generated.yaml"])
		if got, want := kindCounts(objs), kindCounts(committed); len(objs) != len(committed) {
			t.Errorf("kinds %v, want %v", got, want)
		}
		if rep := verify.Check(docs(objs)); !rep.OK() {
			t.Errorf("verify: %v", rep.Problems)
		}
	})
	t.Run("verify with exec args", func(t *testing.T) {
		// kpt splits --exec on spaces, so the validator runs imperatively too.
		pkg := kptPackage(t)
		r := kpt(t, pkg, nil, "fn", "eval", pkg, "--exec", "rqlite-fn verify")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
}
