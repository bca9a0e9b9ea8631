package images

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// FunctionImage is the repository's function image, built by Function.
type FunctionImage struct {
	// Ref is the content tag to run: rqlite-krm-test/rqlite-krm:<hash>.
	Ref string
	// Name is the published name the Makefile gives it, ghcr.io/rqlite/rqlite-krm:<VERSION>;
	// Function does not tag it (see Tag).
	Name string
	// Version is the Makefile's VERSION, which the binary reports and the image's labels carry.
	Version string
}

// ReleaseBinary is where the Dockerfile takes the function binary from; Function builds it fresh
// from this tree instead of using whatever `make build` left there.
const ReleaseBinary = "bin/rqlite-fn"

// Function builds the repository's own Dockerfile exactly as `make image` does, except that the
// binary is built from this tree by the test (with the Makefile's LDFLAGS and VERSION) rather
// than taken from bin/: the build context holds the Dockerfile's COPY sources and .dockerignore.
// The first call in a test binary builds (about a second with Go's build cache, plus the docker
// build when the content is new); later calls return the same image.
func Function(t testing.TB) FunctionImage {
	t.Helper()
	path := Docker(t)
	fnImage.once.Do(func() { fnImage.img, fnImage.err = buildFunction(path) })
	if fnImage.err != nil {
		t.Fatalf("images: the function image: %v", fnImage.err)
	}
	return fnImage.img
}

var fnImage struct {
	once sync.Once
	img  FunctionImage
	err  error
}

// MakeVars are the Makefile's settings the release build uses.
type MakeVars struct {
	Version, LDFlags, Image string
}

// ReadMakefile reads VERSION, LDFLAGS and IMAGE from the repository's Makefile with $(VERSION)
// expanded, so that tests build and name the image as `make image` does.
func ReadMakefile() (MakeVars, error) {
	root, err := testenv.RepoRootDir()
	if err != nil {
		return MakeVars{}, err
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return MakeVars{}, err
	}
	get := func(name, op string) (string, error) {
		m := regexp.MustCompile(`(?m)^` + name + ` ` + regexp.QuoteMeta(op) + ` (.+)$`).FindSubmatch(mk)
		if m == nil {
			return "", fmt.Errorf("the Makefile has no `%s %s …` line", name, op)
		}
		return strings.TrimSpace(string(m[1])), nil
	}
	var v MakeVars
	if v.Version, err = get("VERSION", "?="); err != nil {
		return v, err
	}
	if v.LDFlags, err = get("LDFLAGS", ":="); err != nil {
		return v, err
	}
	if v.Image, err = get("IMAGE", "?="); err != nil {
		return v, err
	}
	v.LDFlags = strings.ReplaceAll(v.LDFlags, "$(VERSION)", v.Version)
	v.Image = strings.ReplaceAll(v.Image, "$(VERSION)", v.Version)
	if strings.Contains(v.LDFlags+v.Image, "$(") {
		return v, fmt.Errorf("the Makefile's LDFLAGS or IMAGE use a variable other than $(VERSION): %q %q", v.LDFlags, v.Image)
	}
	return v, nil
}

// CopySources lists the build-context paths a Dockerfile's COPY and ADD instructions read
// (instructions copying --from another stage or image read none).
func CopySources(dockerfile []byte) []string {
	var out []string
	for _, line := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (!strings.EqualFold(f[0], "COPY") && !strings.EqualFold(f[0], "ADD")) {
			continue
		}
		args := f[1:]
		fromStage := false
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
			args = args[1:]
		}
		if fromStage || len(args) < 2 {
			continue
		}
		out = append(out, args[:len(args)-1]...)
	}
	return out
}

func buildFunction(docker string) (FunctionImage, error) {
	root, err := testenv.RepoRootDir()
	if err != nil {
		return FunctionImage{}, err
	}
	mk, err := ReadMakefile()
	if err != nil {
		return FunctionImage{}, err
	}
	img := FunctionImage{Name: mk.Image, Version: mk.Version}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return img, err
	}
	bin, err := goBuildBytes(root, mk.LDFlags, "./fn")
	if err != nil {
		return img, err
	}
	paths := map[string]string{".dockerignore": filepath.Join(root, ".dockerignore")}
	copiesBinary := false
	for _, src := range CopySources(dockerfile) {
		if path.Clean(src) == ReleaseBinary {
			copiesBinary = true
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(src)), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			paths[filepath.ToSlash(rel)] = p
			return err
		})
		if err != nil {
			return img, fmt.Errorf("the Dockerfile copies %s: %w", src, err)
		}
	}
	if !copiesBinary {
		return img, fmt.Errorf("the Dockerfile does not COPY %s", ReleaseBinary)
	}
	files, err := readContext(paths)
	if err != nil {
		return img, err
	}
	files[ReleaseBinary] = contextFile{data: bin, mode: 0o755}
	img.Ref, err = buildFiles(docker, BuildSpec{
		Repository: "rqlite-krm-test/rqlite-krm",
		Dockerfile: dockerfile,
		Args:       map[string]string{"VERSION": mk.Version},
	}, files)
	return img, err
}

// goBuildBytes builds a static binary as `make build` does (CGO_ENABLED=0, -trimpath) and returns
// its bytes; the image gets it with mode 0755, executable by every user (images run it as
// nobody).
func goBuildBytes(root, ldflags, pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "rqlite-krm-image-go-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, path.Base(pkg))
	args := []string{"build", "-trimpath"}
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	cmd := exec.Command(testenv.GoTool(), append(args, "-o", out, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

var probeBin struct {
	once sync.Once
	data []byte
	err  error
}

// Probe builds an image FROM base (a tag Build returned) whose entrypoint is rqlite-krm-probe
// (package internal/probe) in front of target, the program base's entrypoint runs: the
// container prints a probe.Report line on stderr and then runs target with the same arguments,
// as the same process. Everything else (user, environment, files) is base's.
func Probe(t testing.TB, base, target string) string {
	t.Helper()
	docker := Docker(t)
	probeBin.once.Do(func() {
		root, err := testenv.RepoRootDir()
		if err != nil {
			probeBin.err = err
			return
		}
		probeBin.data, probeBin.err = goBuildBytes(root, "-s -w", "./internal/probe/rqlite-krm-probe")
	})
	if probeBin.err != nil {
		t.Fatalf("images: the probe: %v", probeBin.err)
	}
	dockerfile := fmt.Sprintf("FROM %s\nCOPY rqlite-krm-probe /rqlite-krm-probe\nENTRYPOINT [%q, %q]\n", base, "/rqlite-krm-probe", target)
	ref, err := buildFiles(docker, BuildSpec{Repository: "rqlite-krm-test/probe", Dockerfile: []byte(dockerfile)},
		map[string]contextFile{"rqlite-krm-probe": {data: probeBin.data, mode: 0o755}})
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	return ref
}
