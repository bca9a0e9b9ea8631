package kustomize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/images"
	"github.com/rqlite/rqlite-krm/internal/probe"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// kptForm is one of the two committed kpt packages: the same spec and the same rendered output,
// with the functions run as the function image (examples/kpt) or as the rqlite-fn binary
// (examples/kpt-exec). Every kpt test runs for both.
type kptForm struct {
	name string
	dir  string
	// renderFlags are what `kpt fn render` needs for the form: the image form pins the pull
	// policy so that nothing reaches for a registry, and needs no --allow-exec.
	renderFlags []string
	// passes are the function names kpt reports as [PASS] on a render.
	passes []string
	// evalVerify are the `kpt fn eval` arguments that run verify on a package.
	evalVerify []string
	// evalFn are the `kpt fn eval` arguments that run the generator.
	evalFn []string
}

var kptForms = []kptForm{
	{
		name: "image", dir: "examples/kpt",
		renderFlags: []string{"--image-pull-policy", "never"},
		passes:      []string{v1alpha1.DefaultShrinkImage, v1alpha1.DefaultShrinkImage},
		evalFn:      []string{"--image", v1alpha1.DefaultShrinkImage, "--image-pull-policy", "never"},
		// kpt turns the arguments after -- into the ConfigMap function config.
		evalVerify: []string{"--image", v1alpha1.DefaultShrinkImage, "--image-pull-policy", "never", "--", "command=verify"},
	},
	{
		name: "exec", dir: "examples/kpt-exec",
		renderFlags: []string{"--allow-exec"},
		passes:      []string{"rqlite-fn", "rqlite-fn verify"},
		evalFn:      []string{"--exec", "rqlite-fn"},
		// kpt splits --exec on spaces.
		evalVerify: []string{"--exec", "rqlite-fn verify"},
	},
}

// forEachKptForm runs f for each package form as a subtest.
func forEachKptForm(t *testing.T, f func(t *testing.T, form kptForm)) {
	for _, form := range kptForms {
		t.Run(form.name, func(t *testing.T) { f(t, form) })
	}
}

// env is the whole environment of a kpt run. The image form gets the function image under its
// published name and no rqlite-fn on PATH; the exec form gets the rqlite-fn built by TestMain.
func (f kptForm) env(t *testing.T) []string {
	t.Helper()
	if f.name == "image" {
		functionImage(t)
		return containerEnv(t)
	}
	return toolEnv(t)
}

// kptPackage copies the form's package to a temporary directory: kpt writes into the package.
func kptPackage(t *testing.T, f kptForm) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rqlite")
	copyTree(t, repoPath(f.dir), dir)
	return dir
}

// kpt runs kpt in the package's parent directory (kpt resolves exec paths against its own
// working directory; the Kptfile names the function so that PATH finds it).
func kpt(t *testing.T, f kptForm, pkg string, stdin []byte, args ...string) result {
	t.Helper()
	return execIn(t, filepath.Dir(pkg), f.env(t), stdin, testenv.Tool(t, "kpt"), args...)
}

func render(t *testing.T, f kptForm, pkg string) result {
	t.Helper()
	return kpt(t, f, pkg, nil, append(append([]string{"fn", "render"}, f.renderFlags...), pkg)...)
}

// TestKptPackagesAgree: the two forms are one example; only their Kptfiles differ.
func TestKptPackagesAgree(t *testing.T) {
	a, b := snapshot(t, repoPath(kptForms[0].dir)), snapshot(t, repoPath(kptForms[1].dir))
	for _, f := range []string{"rqlite.yaml", "rqlite.generated.yaml"} {
		if a[f] == "" || a[f] != b[f] {
			t.Errorf("%s differs between %s and %s (or is missing)", f, kptForms[0].dir, kptForms[1].dir)
		}
	}
	if len(a) != 3 || len(b) != 3 {
		t.Errorf("each package holds Kptfile, rqlite.yaml and rqlite.generated.yaml: %d and %d files", len(a), len(b))
	}
}

// TestGoldenKptPackage renders a copy of examples/kpt twice: the committed package must already be
// the rendered state (rqlite.generated.yaml up to date), and rendering again changes no byte.
// Under -update the rendered file is written back to examples/kpt.
func TestGoldenKptPackage(t *testing.T) { forEachKptForm(t, testGoldenKptPackage) }

func testGoldenKptPackage(t *testing.T, f kptForm) {
	pkg := kptPackage(t, f)
	committed := snapshot(t, pkg)

	r := render(t, f, pkg)
	if r.code != 0 {
		t.Fatalf("kpt fn render: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := strings.Count(r.stderr, "[PASS] "); got != len(f.passes) {
		t.Errorf("%d functions passed, want %d:\n%s", got, len(f.passes), r.stderr)
	}
	for _, w := range f.passes {
		if !strings.Contains(r.stderr, `[PASS] "`+w+`"`) {
			t.Errorf("kpt output lacks [PASS] %q:\n%s", w, r.stderr)
		}
	}
	first := snapshot(t, pkg)
	if *update {
		generated := filepath.Join(f.dir, "rqlite.generated.yaml")
		if err := os.WriteFile(repoPath(generated), []byte(first["rqlite.generated.yaml"]), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if d := diffSnapshots(committed, first); len(d) > 0 {
		t.Errorf("rendering the committed package changed it (%v): the committed rqlite.generated.yaml is stale; run `go test ./e2e/kustomize -update` (or `make golden`) and review the diff\n%s",
			d, firstDifference(committed["rqlite.generated.yaml"], first["rqlite.generated.yaml"]))
	}

	if r := render(t, f, pkg); r.code != 0 {
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

// TestKptRenderInvalidSpec: a spec error fails the pipeline, leaves every file of the package as
// it was (nothing half-rendered is written), and the user sees why, with the field's path.
//
// kpt prints a function's results only if its output parses as a ResourceList, which needs an
// `items` key even when a failed run cleared them; without it kpt reports "resource must have
// `metadata.name`" and hides the reason. krm.ToYAML writes the key; the KRM entry point (fn/cli
// runKRM) must encode with it.
func TestKptRenderInvalidSpec(t *testing.T) {
	forEachKptForm(t, func(t *testing.T, f kptForm) {
		pkg := kptPackage(t, f)
		spec := filepath.Join(pkg, "rqlite.yaml")
		b, _ := os.ReadFile(spec)
		broken := strings.Replace(string(b), "replicas: 3", "replicas: 0", 1)
		if broken == string(b) {
			t.Fatalf("%s/rqlite.yaml no longer has voters.replicas: 3", f.dir)
		}
		if err := os.WriteFile(spec, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, pkg)
		r := render(t, f, pkg)
		if r.code == 0 {
			t.Fatalf("kpt accepted 0 voters:\n%s", r.stderr)
		}
		if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
			t.Errorf("a failed render changed the package: %v", d)
		}
		want := "[error] rqlite.io/v1alpha1/RqliteSpec/rqlite/rqlite spec.voters.replicas: 0 voters cannot form a cluster"
		if !strings.Contains(r.stderr, want) {
			t.Errorf("kpt does not show the function's result with its field path (%q; fn/cli runKRM must encode with krm.ToYAML):\n%s", want, r.stderr)
		}
	})
}

// TestKptRenderFollowsSpecChanges scales the voters and drops the read-only pool: the objects of
// the old render are replaced and removed, not duplicated, and the next render is a no-op.
func TestKptRenderFollowsSpecChanges(t *testing.T) {
	forEachKptForm(t, func(t *testing.T, f kptForm) {
		pkg := kptPackage(t, f)
		spec := filepath.Join(pkg, "rqlite.yaml")
		b, _ := os.ReadFile(spec)
		changed := strings.Replace(string(b), "replicas: 3", "replicas: 5", 1)
		changed = strings.Replace(changed, "  readOnly:\n    replicas: 2\n", "", 1)
		changed = strings.Replace(changed, "namespace: rqlite", "namespace: moved", 1)
		if err := os.WriteFile(spec, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := render(t, f, pkg); r.code != 0 {
			t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
		}
		after := snapshot(t, pkg)
		objs := decode(t, after["rqlite.generated.yaml"])
		if len(ofKind(objs, "StatefulSet")) != 1 || len(ofKind(objs, "Service")) != 2 || len(ofKind(objs, "PodDisruptionBudget")) != 1 {
			t.Errorf("the read-only pool's objects survived: %v", kindCounts(objs))
		}
		for _, o := range objs {
			if strings.Contains(o.name(), "readonly") {
				t.Errorf("%s %s survived", o.kind(), o.name())
			}
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
		if r := render(t, f, pkg); r.code != 0 {
			t.Fatalf("second render: exit %d\n%s", r.code, r.stderr)
		}
		if d := diffSnapshots(after, snapshot(t, pkg)); len(d) > 0 {
			t.Errorf("second render changed the package: %v", d)
		}
	})
}

// TestKptValidatorCatchesBrokenReference: the Kptfile's verify validator fails the render when an
// object in the package breaks a reference, and the package stays as it was.
func TestKptValidatorCatchesBrokenReference(t *testing.T) {
	forEachKptForm(t, func(t *testing.T, f kptForm) {
		pkg := kptPackage(t, f)
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
		r := render(t, f, pkg)
		if r.code == 0 {
			t.Fatalf("the validator let a broken reference through:\n%s", r.stderr)
		}
		for _, want := range []string{
			"[error] HorizontalPodAutoscaler/rqlite/rqlite-ro: spec.scaleTargetRef -> StatefulSet rqlite/rqlite-ro: no such StatefulSet",
			"HorizontalPodAutoscaler rqlite/rqlite-ro spec.scaleTargetRef -> StatefulSet rqlite/rqlite-ro: no such StatefulSet",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("kpt output lacks %q:\n%s", want, r.stderr)
			}
		}
		if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
			t.Errorf("a failed render changed the package: %v", d)
		}
	})
}

// TestKptFnEval covers the imperative forms documented in docs/integration.md.
func TestKptFnEval(t *testing.T) {
	forEachKptForm(t, func(t *testing.T, f kptForm) {
		t.Run("package", func(t *testing.T) {
			// `kpt fn eval DIR --exec rqlite-fn` (or --image) renders the specs the package
			// holds; kpt sends a placeholder function config the function must not mistake for
			// a wrong one.
			pkg := kptPackage(t, f)
			want, _ := os.ReadFile(filepath.Join(pkg, "rqlite.generated.yaml"))
			if err := os.Remove(filepath.Join(pkg, "rqlite.generated.yaml")); err != nil {
				t.Fatal(err)
			}
			r := kpt(t, f, pkg, nil, append([]string{"fn", "eval", pkg}, f.evalFn...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			got, err := os.ReadFile(filepath.Join(pkg, "rqlite.generated.yaml"))
			if err != nil || string(got) != string(want) {
				t.Errorf("eval wrote a different rqlite.generated.yaml than render (%v):\n%s", err, firstDifference(string(want), string(got)))
			}
		})
		t.Run("stdin with fn-config", func(t *testing.T) {
			// `kpt fn eval - … --fn-config spec.yaml -o unwrap` prints the manifests.
			pkg := kptPackage(t, f)
			args := append(append([]string{"fn", "eval", "-"}, f.evalFn...), "--fn-config", filepath.Join(pkg, "rqlite.yaml"), "-o", "unwrap")
			r := kpt(t, f, pkg, []byte{}, args...)
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
		t.Run("verify", func(t *testing.T) {
			pkg := kptPackage(t, f)
			before := snapshot(t, pkg)
			r := kpt(t, f, pkg, nil, append([]string{"fn", "eval", pkg}, f.evalVerify...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
				t.Errorf("verify changed the package: %v", d)
			}
		})
	})
}

// TestKptRuntimeOptions observes, from inside the container, what kpt's container runtime gives
// the function image (see TestContainerRuntimeOptions): both functions of the image-form
// pipeline run the probed image and report on stderr, which kpt prints under "Stderr:".
func TestKptRuntimeOptions(t *testing.T) {
	f := kptForms[0]
	probed := images.Probe(t, images.Function(t).Ref, "/usr/local/bin/rqlite-fn")
	pkg := kptPackage(t, f)
	kptfile := filepath.Join(pkg, "Kptfile")
	b, _ := os.ReadFile(kptfile)
	switched := strings.ReplaceAll(string(b), "image: "+v1alpha1.DefaultShrinkImage, "image: "+probed)
	if strings.Count(switched, probed) != 2 {
		t.Fatalf("examples/kpt/Kptfile no longer names %s twice", v1alpha1.DefaultShrinkImage)
	}
	if err := os.WriteFile(kptfile, []byte(switched), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pkg)
	r := render(t, f, pkg)
	if r.code != 0 {
		t.Fatalf("render: exit %d\n%s", r.code, r.stderr)
	}
	if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("the probed pipeline rendered something else: %v", d)
	}
	reports, err := probe.Parse(r.stderr)
	if err != nil || len(reports) != 2 {
		t.Fatalf("want a probe report from each function, got %d (%v):\n%s", len(reports), err, r.stderr)
	}
	for _, rep := range reports {
		// kpt sets no environment of its own (unlike kyaml's LOG_TO_STDERR and
		// STRUCTURED_RESULTS) and runs the image as nobody too.
		checkRuntime(t, rep, runtimeWant{uid: 65534, gid: 65534})
	}
}

// TestKptImagePullPolicyNever: with --image-pull-policy never a missing image fails at once with
// the engine's own answer and kpt never asks a registry (its default, IfNotPresent, would: the
// message would then name the registry's address). The package stays as it was.
func TestKptImagePullPolicyNever(t *testing.T) {
	f := kptForms[0]
	pkg := kptPackage(t, f)
	missing := strings.Split(v1alpha1.DefaultShrinkImage, ":")[0] + ":v0.0.0-not-built"
	kptfile := filepath.Join(pkg, "Kptfile")
	b, _ := os.ReadFile(kptfile)
	if err := os.WriteFile(kptfile, []byte(strings.ReplaceAll(string(b), v1alpha1.DefaultShrinkImage, missing)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pkg)
	r := render(t, f, pkg)
	if r.code == 0 {
		t.Fatalf("kpt rendered with an image the engine does not have:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "No such image: "+missing) {
		t.Errorf("kpt output lacks docker's \"No such image\":\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "/v2/") || strings.Contains(r.stderr, "Pulling") {
		t.Errorf("kpt asked a registry despite --image-pull-policy never:\n%s", r.stderr)
	}
	if d := diffSnapshots(before, snapshot(t, pkg)); len(d) > 0 {
		t.Errorf("a failed render changed the package: %v", d)
	}
}
