package kustomize

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

const execAnnotation = `    config.kubernetes.io/function: |
      exec:
        path: rqlite-fn
`

// containerBase is base/ with only the function annotation changed to the container form, in a
// temporary directory.
func containerBase(t *testing.T, image string) string {
	t.Helper()
	spec, err := os.ReadFile(repoPath("base", "spec", "rqlite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	container := "    config.kubernetes.io/function: |\n      container:\n        image: " + image + "\n"
	swapped := strings.Replace(string(spec), execAnnotation, container, 1)
	if swapped == string(spec) {
		t.Fatal("base/spec/rqlite.yaml no longer declares the exec form this test swaps out")
	}
	dir := t.TempDir()
	copyTree(t, repoPath("base"), dir)
	if err := os.WriteFile(filepath.Join(dir, "spec", "rqlite.yaml"), []byte(swapped), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestContainerForm runs kustomize with the container form of the function annotation against a
// docker stand-in (testdata/docker-shim/docker) that records the `docker run` invocation and runs
// the locally built binary under the same constraints. It proves the contract between the
// annotation, kustomize and the published image: the image name, no network, an unprivileged
// user, no mounts, a ResourceList on stdin, no arguments — and the same output as the exec form.
func TestContainerForm(t *testing.T) {
	image := publishedImage(t)
	if image != v1alpha1.DefaultShrinkImage {
		t.Fatalf("the Dockerfile and Makefile publish %s, but the function's own image default is %s", image, v1alpha1.DefaultShrinkImage)
	}
	dir := containerBase(t, image)

	shimDir := t.TempDir()
	shim, err := os.ReadFile(filepath.Join("testdata", "docker-shim", "docker"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shimDir, "docker"), shim, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "docker")
	kustomize := testenv.Tool(t, "kustomize")
	// fnDir is deliberately not on PATH: only the container form can run the function here.
	env := []string{
		"PATH=" + strings.Join([]string{shimDir, filepath.Dir(kustomize), "/usr/local/bin", "/usr/bin", "/bin"}, ":"),
		"HOME=" + t.TempDir(),
		"DOCKER_SHIM_LOG=" + log,
		"DOCKER_SHIM_IMAGE=" + image,
		"DOCKER_SHIM_BINARY=" + fnBin,
	}

	// Container functions need --enable-alpha-plugins only; --enable-exec is for exec functions.
	r := execIn(t, dir, env, nil, kustomize, "build", "--enable-alpha-plugins", ".")
	if r.code != 0 {
		t.Fatalf("kustomize build: exit %d\n%s", r.code, r.stderr)
	}
	want, err := os.ReadFile(repoPath("testdata", "overlays", "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("container form output differs from the exec form's (testdata/overlays/base.yaml):\n%s", firstDifference(string(want), r.stdout))
	}

	args, err := os.ReadFile(log + ".args")
	if err != nil {
		t.Fatalf("kustomize never ran docker: %v", err)
	}
	wantArgs := []string{
		"run", "--rm", "-i", "-a", "STDIN", "-a", "STDOUT", "-a", "STDERR",
		"--network", "none",
		"--user", "nobody",
		"--security-opt=no-new-privileges",
		"-e", "LOG_TO_STDERR=true", "-e", "STRUCTURED_RESULTS=true",
		image,
	}
	if got := strings.Split(strings.TrimSuffix(string(args), "\n"), "\n"); strings.Join(got, " ") != strings.Join(wantArgs, " ") {
		t.Errorf("docker invocation changed:\n got: docker %s\nwant: docker %s", strings.Join(got, " "), strings.Join(wantArgs, " "))
	}

	stdin, err := os.ReadFile(log + ".stdin")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := fn.ParseResourceList(stdin)
	if err != nil {
		t.Fatalf("stdin is not a ResourceList: %v", err)
	}
	if fc := rl.FunctionConfig; fc.GetKind() != v1alpha1.Kind || fc.GetName() != "rqlite" {
		t.Errorf("functionConfig %s %s, want the RqliteSpec", fc.GetKind(), fc.GetName())
	}

	emulated, _ := os.ReadFile(log + ".emulated")
	if os.Geteuid() == 0 {
		for _, w := range []string{"user=65534", "no-new-privileges", "network=none"} {
			if !strings.Contains(string(emulated), w) {
				t.Errorf("the shim did not emulate %s (emulated: %q)", w, emulated)
			}
		}
	} else {
		t.Logf("not root: ran without user and network isolation (emulated: %q)", emulated)
	}

	// A container function without a docker CLI that works fails loudly, not silently.
	env[0] = "PATH=" + filepath.Dir(kustomize) + ":/nonexistent"
	if r := execIn(t, dir, env, nil, kustomize, "build", "--enable-alpha-plugins", "."); r.code == 0 || !strings.Contains(r.stderr, "docker") {
		t.Errorf("without docker: exit %d, stderr %q", r.code, r.stderr)
	}
}

// publishedImage is the function image the repository publishes: the name in the Dockerfile's
// header and the Makefile's VERSION. The Dockerfile's entrypoint must run the function with no
// arguments, which is KRM mode.
func publishedImage(t *testing.T) string {
	t.Helper()
	df, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`(ghcr\.io/rqlite/rqlite-krm):<version>`).FindStringSubmatch(string(df))
	if name == nil {
		t.Fatal("Dockerfile does not name the image (ghcr.io/rqlite/rqlite-krm:<version>)")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/rqlite-fn"\]$`).Match(df) || regexp.MustCompile(`(?m)^CMD`).Match(df) {
		t.Error("the image must start rqlite-fn without arguments (KRM mode): ENTRYPOINT [\"/usr/local/bin/rqlite-fn\"] and no CMD")
	}
	mk, err := os.ReadFile(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindStringSubmatch(string(mk))
	if version == nil {
		t.Fatal("Makefile has no VERSION ?= line")
	}
	return name[1] + ":" + version[1]
}
