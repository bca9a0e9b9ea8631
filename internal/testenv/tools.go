// Package testenv provides real binaries for tests: a Kubernetes control plane
// (etcd, kube-apiserver, optionally kube-controller-manager) and helpers to
// apply manifests to it. It is test-only; nothing under fn/ may import it.
//
// The binaries come from hack/install-tools.sh (`make tools`). A missing tool
// fails the test instead of skipping it: a skipped integration test in CI is
// indistinguishable from a passing one.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/rqlite/rqlite-krm"

// RepoRoot returns the repository's root directory (the one holding the
// rqlite-krm go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// repoRoot walks up from the working directory, which `go test` sets to the
// package directory. It checks the module line because hack/tools/* hold
// go.mod files of their own.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	for _, line := range bytes.Split(gomod, []byte("\n")) {
		fields := strings.Fields(string(line))
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == path
		}
	}
	return false
}

// Tool returns the absolute path of an executable installed by
// hack/install-tools.sh and fails the test if there is none.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := LookupTool(name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return path
}

// LookupTool is Tool for callers without a testing.TB (TestMain). The search
// order is $RQLITE_KRM_TOOLS_BIN, <repo>/.tools/bin, then $PATH, so that the
// pinned versions win over whatever the machine happens to have.
func LookupTool(name string) (string, error) {
	var tried []string
	if dir := os.Getenv("RQLITE_KRM_TOOLS_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return filepath.Abs(p)
		}
		tried = append(tried, p)
	}
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if isExecutable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("tool %q not found (looked in %s): run `make tools` (hack/install-tools.sh %s)",
		name, strings.Join(tried, ", "), name)
}

func isExecutable(path string) bool {
	// Stat follows symlinks, so a link into a cache that was since wiped
	// counts as missing rather than producing an exec error later.
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
