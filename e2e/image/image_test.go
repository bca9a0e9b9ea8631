// Package image tests the function image, ghcr.io/rqlite/rqlite-krm:<version>, as the Docker
// Engine runs it: what it contains and publishes (entrypoint, user, labels, files), what its
// build context lets in, that the users the orchestrators name resolve in it, KRM mode under the
// tightest runtime options, and the shrink Job's container (shrink_test.go).
//
// The image is the repository's Dockerfile built from this tree by internal/images (content
// tagged: a rerun with no change reuses it). The tests need a running Docker Engine and fail,
// never skip, without one. kustomize and kpt running the image are tested in e2e/kustomize.
package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/rqlite/rqlite-krm/internal/images"
	"github.com/rqlite/rqlite-krm/internal/probe"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

const entrypoint = "/usr/local/bin/rqlite-fn"

// TestImageConfig: what `docker image inspect` shows is what the README documents: the
// entrypoint without arguments (KRM mode), the numeric non-root user, the OCI labels with the
// Makefile's version.
func TestImageConfig(t *testing.T) {
	fn := images.Function(t)
	info := images.Inspect(t, fn.Ref)
	if !slices.Equal(info.Config.Entrypoint, []string{entrypoint}) || len(info.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [%s] and no cmd: no arguments is KRM mode", info.Config.Entrypoint, info.Config.Cmd, entrypoint)
	}
	// Numeric, so that a pod's runAsNonRoot can be checked against the image without a
	// runAsUser; the shrink Job's pod names the same ids.
	if info.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", info.Config.User)
	}
	if info.Config.WorkingDir != "" {
		t.Errorf("working directory %q, want none", info.Config.WorkingDir)
	}
	want := map[string]string{
		"org.opencontainers.image.title":       "rqlite-krm",
		"org.opencontainers.image.description": "KRM function that renders rqlite clusters for Kubernetes (kustomize, kpt, Argo CD) and runs their voter shrink Job",
		"org.opencontainers.image.source":      "https://github.com/rqlite/rqlite-krm",
		"org.opencontainers.image.version":     fn.Version,
		"org.opencontainers.image.licenses":    "NOASSERTION",
	}
	if !maps.Equal(info.Config.Labels, want) {
		t.Errorf("labels %v, want %v", info.Config.Labels, want)
	}
	readme := readRepo(t, "README.md")
	for k, v := range want {
		if k == "org.opencontainers.image.version" {
			v = "<version>"
		}
		if !strings.Contains(readme, "`"+k+"`") || !strings.Contains(readme, v) {
			t.Errorf("README.md does not document the label %s = %s", k, v)
		}
	}

	// The version the label carries is the version the binary reports.
	r := images.Run(t, images.RunSpec{Image: fn.Ref, Args: []string{"version"}})
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, fn.Version) {
		t.Errorf("rqlite-fn version in the image: exit %d, %q; want %s", r.ExitCode, r.Stdout+r.Stderr, fn.Version)
	}
}

// TestImageFiles: the image is the binary, a passwd and a group, nothing else: no shell, no
// libc, no package database. Everything belongs to root; only the binary is executable.
func TestImageFiles(t *testing.T) {
	fn := images.Function(t)
	type file struct {
		mode     string
		uid, gid int
	}
	got := map[string]file{}
	for _, e := range images.Files(t, fn.Ref) {
		got[e.Path] = file{e.Mode.String(), e.UID, e.GID}
	}
	want := map[string]file{
		"etc":                     {"drwxr-xr-x", 0, 0},
		"etc/passwd":              {"-rw-r--r--", 0, 0},
		"etc/group":               {"-rw-r--r--", 0, 0},
		"usr":                     {"drwxr-xr-x", 0, 0},
		"usr/local":               {"drwxr-xr-x", 0, 0},
		"usr/local/bin":           {"drwxr-xr-x", 0, 0},
		"usr/local/bin/rqlite-fn": {"-rwxr-xr-x", 0, 0},
	}
	if !maps.Equal(got, want) {
		t.Errorf("image files:\n got %v\nwant %v", got, want)
	}

	// Without a shell, nothing can be run in the container but the function.
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/busybox"} {
		r := images.Run(t, images.RunSpec{Image: fn.Ref, Options: []string{"--entrypoint", shell}, Args: []string{"-c", "true"}})
		if r.ExitCode == 0 || !strings.Contains(r.Stderr, "no such file or directory") {
			t.Errorf("%s in the image: exit %d, %q; want it missing", shell, r.ExitCode, r.Stderr)
		}
	}
}

// TestImageUsers: the users kustomize and kpt name (`--user nobody`) and the image's default
// resolve to the ids the README gives, as the process sees them. The negative control is the
// same binary in an image without /etc/passwd: Docker refuses to start it, which is what
// kustomize and kpt would show users of such an image.
func TestImageUsers(t *testing.T) {
	fn := images.Function(t)
	probed := images.Probe(t, fn.Ref, entrypoint)
	bare := images.Build(t, images.BuildSpec{
		Repository: "rqlite-krm-test/no-passwd",
		Dockerfile: []byte("FROM " + fn.Ref + " AS fn\nFROM scratch\nCOPY --from=fn " + entrypoint + " " + entrypoint + "\nENTRYPOINT [\"" + entrypoint + "\"]\n"),
	})
	cases := []struct {
		name, image string
		options     []string
		uid, gid    int
		failure     string // docker's refusal, when the container must not start
	}{
		{name: "default user", image: probed, uid: 65532, gid: 65532},
		{name: "--user nobody (kustomize, kpt)", image: probed, options: []string{"--user", "nobody"}, uid: 65534, gid: 65534},
		{name: "--user nonroot", image: probed, options: []string{"--user", "nonroot"}, uid: 65532, gid: 65532},
		{name: "--user nobody without /etc/passwd", image: bare, options: []string{"--user", "nobody"}, failure: "unable to find user nobody: no matching entries in passwd file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := images.Run(t, images.RunSpec{Image: c.image, Options: c.options, Args: []string{"version"}})
			if c.failure != "" {
				if r.ExitCode == 0 || !strings.Contains(r.Stderr, c.failure) {
					t.Errorf("exit %d, stderr %q; want docker to refuse with %q", r.ExitCode, r.Stderr, c.failure)
				}
				return
			}
			if r.ExitCode != 0 {
				t.Fatalf("exit %d\n%s", r.ExitCode, r.Stderr)
			}
			reports, err := probe.Parse(r.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			if got := reports[0]; got.UID != c.uid || got.GID != c.gid {
				t.Errorf("uid %d gid %d, want %d and %d", got.UID, got.GID, c.uid, c.gid)
			}
		})
	}
}

// TestKRMUnderTightestOptions runs KRM mode with every restriction a runtime or a pod can add
// (read-only root, no network, no capabilities, no new privileges, another non-root user): the
// output is byte for byte what the function gives in-process.
func TestKRMUnderTightestOptions(t *testing.T) {
	fn := images.Function(t)
	spec := readRepo(t, "base", "spec", "rqlite.yaml")
	in := []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n" + indent(spec) + "items:\n- " + strings.TrimPrefix(indent(spec), "  "))
	var want, wantErr bytes.Buffer
	if code := cli.Main(nil, bytes.NewReader(in), &want, &wantErr); code != 0 {
		t.Fatalf("in-process: exit %d\n%s", code, wantErr.String())
	}
	r := images.Run(t, images.RunSpec{
		Image: fn.Ref, Stdin: in,
		Options: []string{"--read-only", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "12345:12345"},
	})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Stderr)
	}
	if r.Stdout != want.String() || r.Stderr != wantErr.String() {
		t.Errorf("the image's KRM output differs from the function's (stderr %q, want %q)", r.Stderr, wantErr.String())
	}
}

// TestBuildContext: .dockerignore lets exactly the Dockerfile's COPY sources into the build
// context. The context under test is every file git tracks plus what a working tree collects
// (bin/, .tools/, dist/, a .git directory); an image that copies the whole context shows what got
// in.
func TestBuildContext(t *testing.T) {
	root := testenv.RepoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := map[string]string{}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "Dockerfile" {
			if _, err := os.Stat(filepath.Join(root, f)); err == nil { // deleted but not yet committed
				files[f] = filepath.Join(root, f)
			}
		}
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("not for the image\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{images.ReleaseBinary, "bin/other", ".tools/bin/kustomize", "dist/demo.yaml", ".git/config", "image/notes.txt"} {
		files[f] = junk
	}
	ref := images.Build(t, images.BuildSpec{Repository: "rqlite-krm-test/context", Dockerfile: []byte("FROM scratch\nCOPY . /context/\n"), Files: files})
	var got []string
	for _, e := range images.Files(t, ref) {
		if rel, ok := strings.CutPrefix(e.Path, "context/"); ok && !e.Mode.IsDir() {
			got = append(got, rel)
		}
	}
	sort.Strings(got)
	want := images.CopySources([]byte(readRepo(t, "Dockerfile")))
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf(".dockerignore lets in %q, want exactly the Dockerfile's COPY sources %q", got, want)
	}
}

// TestSaveArchive: images.Save writes what another runtime imports (the real-node tests load the
// function image into containerd): a docker-archive whose manifest names the image.
func TestSaveArchive(t *testing.T) {
	fn := images.Function(t)
	path := filepath.Join(t.TempDir(), "fn.tar")
	images.Save(t, path, fn.Ref)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in the archive: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil || len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{fn.Ref}) {
			t.Errorf("manifest %+v (%v), want one image tagged %s", manifest, err, fn.Ref)
		}
		return
	}
}

// TestMakeImage: `make image` builds the same Dockerfile with the Makefile's VERSION under the
// name the README and the specs use; what the tests build is that build (images.Function reads
// the same Makefile lines).
func TestMakeImage(t *testing.T) {
	mk, err := images.ReadMakefile()
	if err != nil {
		t.Fatal(err)
	}
	makefile := readRepo(t, "Makefile")
	for _, w := range []string{
		"image: build",
		"$(DOCKER) build --build-arg VERSION=$(VERSION) -t $(IMAGE) .",
		"CGO_ENABLED=0 $(GO) build -trimpath -ldflags=\"$(LDFLAGS)\" -o bin/rqlite-fn ./fn",
	} {
		if !strings.Contains(makefile, w) {
			t.Errorf("the Makefile no longer has %q", w)
		}
	}
	if mk.Image != "ghcr.io/rqlite/rqlite-krm:"+mk.Version {
		t.Errorf("IMAGE is %s", mk.Image)
	}
	if !regexp.MustCompile(`(?m)^# The rqlite-krm function image: ghcr\.io/rqlite/rqlite-krm:<version>$`).MatchString(readRepo(t, "Dockerfile")) {
		t.Error("the Dockerfile no longer names the image it builds")
	}
}

func readRepo(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{testenv.RepoRoot(t)}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
