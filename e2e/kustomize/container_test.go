package kustomize

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/internal/images"
	"github.com/rqlite/rqlite-krm/internal/probe"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// execFunction is the exec form of a function annotation as base/spec/rqlite.yaml and
// overlays/namespaced/verify.yaml write it (the latter with `args: [verify]`).
var execFunction = regexp.MustCompile(`(?m)^    config\.kubernetes\.io/function: \|\n      exec:\n        path: rqlite-fn\n(        args: \[verify\]\n)?`)

// containerFunction is the container form that replaces it.
func containerFunction(image string) string {
	return "    config.kubernetes.io/function: |\n      container:\n        image: " + image + "\n"
}

// containerTree copies base/ and overlays/ into a temporary directory, keeping their relative
// layout (overlays reference ../../../base), and switches every function annotation to the
// container form with image: only the annotation changes. It returns the copy's root.
func containerTree(t *testing.T, image string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"base", "overlays"} {
		copyTree(t, repoPath(d), filepath.Join(root, d))
	}
	switched := 0
	for _, f := range []string{"base/spec/rqlite.yaml", "overlays/namespaced/verify.yaml"} {
		p := filepath.Join(root, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out := execFunction.ReplaceAllString(string(b), containerFunction(image))
		if out == string(b) {
			t.Fatalf("%s no longer declares the exec form this test switches", f)
		}
		switched++
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every function annotation of the tree is switched: none may be left in exec form.
	for _, d := range []string{"base", "overlays"} {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), "      exec:\n") {
				t.Errorf("%s still has an exec function after switching %d files", p, switched)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// containerEnv is the environment of a tool run that may only use the container form: PATH holds
// the docker CLI, the pinned tools and git (kpt needs it), never the rqlite-fn this test binary built, and the test
// checks that no rqlite-fn is reachable at all. The Docker client settings are passed through so
// that an engine configured by DOCKER_HOST or a docker context is the one used.
func containerEnv(t *testing.T) []string {
	t.Helper()
	docker := images.Docker(t)
	// kpt refuses to start without git ("kpt requires that `git` is installed").
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("kpt needs git on PATH: %v", err)
	}
	path := strings.Join([]string{filepath.Dir(docker), filepath.Dir(testenv.Tool(t, "kustomize")), filepath.Dir(testenv.Tool(t, "kpt")), filepath.Dir(git)},
		string(os.PathListSeparator))
	for _, dir := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(dir, "rqlite-fn")); err == nil {
			t.Fatalf("%s has an rqlite-fn: the container-form tests must run without one on PATH", dir)
		}
	}
	env := []string{"PATH=" + path, "HOME=" + t.TempDir(), "LANG=C"}
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONFIG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("DOCKER_CONFIG"); !ok {
		if home, err := os.UserHomeDir(); err == nil {
			if _, err := os.Stat(filepath.Join(home, ".docker")); err == nil {
				env = append(env, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
			}
		}
	}
	return env
}

// functionImage builds the repository's function image from this tree and gives it the name
// the specs use, which must be the function's own default shrink image: one image, one name.
func functionImage(t *testing.T) images.FunctionImage {
	t.Helper()
	fn := images.Function(t)
	if fn.Name != v1alpha1.DefaultShrinkImage {
		t.Fatalf("the Makefile publishes %s, but the function's default shrink image is %s", fn.Name, v1alpha1.DefaultShrinkImage)
	}
	images.Tag(t, fn.Ref, fn.Name)
	return fn
}

// TestContainerForm builds base/ and every overlay with every function annotation switched to
// `container: image: ghcr.io/rqlite/rqlite-krm:<version>`, with the real kustomize and the real
// Docker Engine, and without rqlite-fn on PATH: the output is byte-identical to the exec form's.
// Container functions need --enable-alpha-plugins only.
func TestContainerForm(t *testing.T) {
	fn := functionImage(t)
	tree := containerTree(t, fn.Name)
	kustomize := testenv.Tool(t, "kustomize")
	for _, c := range overlayCases {
		t.Run(c.name, func(t *testing.T) {
			want := kustomizeBuild(t, c.dir, execFlags...).stdout
			r := execIn(t, tree, containerEnv(t), nil, kustomize, "build", "--enable-alpha-plugins", c.dir)
			if r.code != 0 {
				t.Fatalf("kustomize build --enable-alpha-plugins %s (container form): exit %d\n%s", c.dir, r.code, r.stderr)
			}
			if r.stdout != want {
				t.Errorf("container form differs from the exec form:\n%s", firstDifference(want, r.stdout))
			}
			if r.stderr != "" {
				t.Errorf("container form printed on stderr:\n%s", r.stderr)
			}
		})
	}
}

// TestContainerRuntimeOptions observes what kustomize's container runtime gives the function,
// from inside the container: the function image with rqlite-krm-probe in front of rqlite-fn
// (images.Probe), which reports its user, privileges, network and root filesystem on stderr and
// then execs the function. Nothing here restates kustomize's docker arguments; the kernel's view
// is the proof. The output stays the exec form's, so the probe changed nothing else.
func TestContainerRuntimeOptions(t *testing.T) {
	fn := images.Function(t)
	probed := images.Probe(t, fn.Ref, "/usr/local/bin/rqlite-fn")
	tree := containerTree(t, probed)
	r := execIn(t, tree, containerEnv(t), nil, testenv.Tool(t, "kustomize"), "build", "--enable-alpha-plugins", "base")
	if r.code != 0 {
		t.Fatalf("kustomize build: exit %d\n%s", r.code, r.stderr)
	}
	if want := kustomizeBuild(t, "base", execFlags...).stdout; r.stdout != want {
		t.Errorf("the probed image's output differs from the exec form:\n%s", firstDifference(want, r.stdout))
	}
	reports, err := probe.Parse(r.stderr)
	if err != nil || len(reports) != 1 {
		t.Fatalf("want one probe report on kustomize's stderr, got %d (%v):\n%s", len(reports), err, r.stderr)
	}
	checkRuntime(t, reports[0], runtimeWant{
		uid: 65534, gid: 65534, // --user nobody, resolved through the image's /etc/passwd
		env: []string{"LOG_TO_STDERR=true", "STRUCTURED_RESULTS=true"},
	})
}

// runtimeWant is what a KRM orchestrator's container runtime is expected to give a function.
type runtimeWant struct {
	uid, gid int
	env      []string // besides PATH and HOSTNAME, which Docker sets, and HOME from /etc/passwd
}

// checkRuntime compares a probe report with the options both kustomize and kpt promise: the user
// they name, no new privileges, no capabilities, no network but loopback, no arguments, the
// image's working directory; and one they do not set, a read-only root filesystem.
func checkRuntime(t *testing.T, got probe.Report, want runtimeWant) {
	t.Helper()
	if got.UID != want.uid || got.EUID != want.uid || got.GID != want.gid || got.EGID != want.gid {
		t.Errorf("uid/euid %d/%d gid/egid %d/%d, want %d and %d", got.UID, got.EUID, got.GID, got.EGID, want.uid, want.gid)
	}
	if !slices.Equal(got.Groups, []int{want.gid}) {
		t.Errorf("groups %v, want only %d (the image's /etc/group lists no one)", got.Groups, want.gid)
	}
	if !got.NoNewPrivs {
		t.Error("no_new_privs is not set: --security-opt=no-new-privileges is missing")
	}
	if got.CapEff != "0000000000000000" {
		t.Errorf("effective capabilities %s, want none", got.CapEff)
	}
	if !slices.Equal(got.Interfaces, []string{"lo"}) {
		t.Errorf("network interfaces %v, want only lo (--network none)", got.Interfaces)
	}
	if len(got.Args) != 0 {
		t.Errorf("the function got arguments %q, want none (KRM mode)", got.Args)
	}
	if got.Cwd != "/" {
		t.Errorf("working directory %q, want / (the image sets none)", got.Cwd)
	}
	// Neither runtime passes --read-only (kyaml fn/runtime/container, kpt internal/fnruntime);
	// the function writes nothing either way. The shrink Job's read-only root is tested in
	// e2e/image.
	if got.RootReadOnly {
		t.Error("the root filesystem is read-only: the runtime now sets --read-only; update the README's runtime table")
	}
	var env []string
	for _, e := range got.Env {
		if k, _, _ := strings.Cut(e, "="); k != "PATH" && k != "HOSTNAME" && k != "HOME" {
			env = append(env, e)
		}
	}
	slices.Sort(env)
	if !slices.Equal(env, want.env) {
		t.Errorf("environment %q, want %q (plus PATH, HOSTNAME, HOME)", env, want.env)
	}
}

// TestContainerFormFailsLoudly: unlike a missing --enable-exec, a container function that cannot
// run fails the build.
func TestContainerFormFailsLoudly(t *testing.T) {
	kustomize := testenv.Tool(t, "kustomize")
	cases := []struct {
		name, image string
		env         func(t *testing.T) []string
		stderrHas   []string
	}{
		{
			name: "no docker CLI", image: v1alpha1.DefaultShrinkImage,
			env: func(t *testing.T) []string {
				return []string{"PATH=" + filepath.Dir(kustomize), "HOME=" + t.TempDir()}
			},
			stderrHas: []string{`exec: "docker": executable file not found in $PATH`},
		},
		{
			// kustomize has no pull policy: docker run pulls an image the engine lacks. A
			// reserved .invalid domain keeps this test from reaching any registry.
			name: "image not in the engine", image: "rqlite-krm.invalid/rqlite-krm:missing",
			env:       containerEnv,
			stderrHas: []string{"Unable to find image 'rqlite-krm.invalid/rqlite-krm:missing' locally", "rqlite-krm.invalid"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree := containerTree(t, c.image)
			r := execIn(t, tree, c.env(t), nil, kustomize, "build", "--enable-alpha-plugins", "base")
			if r.code == 0 || r.stdout != "" {
				t.Fatalf("exit %d with %d bytes of output, want a failure and no output", r.code, len(r.stdout))
			}
			for _, w := range c.stderrHas {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}
