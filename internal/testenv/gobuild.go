package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GoTool is the go command of this test run: `go test` sets GOROOT for the test binary, and the
// same toolchain must build what the tests run.
func GoTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return "go"
}

// RepoRootDir is RepoRoot for callers without a testing.TB (TestMain).
func RepoRootDir() (string, error) { return repoRoot() }

// BuildFunction builds rqlite-fn from this tree into dir, statically as the release does, and
// returns its path. Tests run the binary as kustomize, kpt, Argo CD and the shrink Job do.
func BuildFunction(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "rqlite-fn")
	build := exec.Command(GoTool(), "build", "-trimpath", "-o", bin, "./fn")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building rqlite-fn: %w\n%s", err, out)
	}
	return bin, nil
}
