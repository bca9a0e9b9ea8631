// Package crds gives tests the CustomResourceDefinitions of the other projects a render uses
// (cert-manager, the Prometheus operator), read from those projects' own releases: the module
// zips pinned by hack/tools/crds (go.mod and go.sum), fetched through the Go module proxy into the
// module cache on first use. Nothing of theirs is copied into this repository (both are
// Apache-2.0; the files are only read at test time), and no CRD is written by hand here, so the
// tests see exactly the schema a user's cluster has.
package crds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// ToolsModule is the directory, relative to the repository root, whose go.mod pins the modules.
const ToolsModule = "hack/tools/crds"

// Source is where an API group's CRDs live in the module of the project that owns the group.
type Source struct {
	Module string
	// Files are paths inside the module, each one CustomResourceDefinition.
	Files []string
}

const (
	certManager = "github.com/cert-manager/cert-manager"
	promOp      = "github.com/prometheus-operator/prometheus-operator"
)

// sources lists, per API group, the CRDs installed for it. cert-manager's deploy/crds holds the
// plain CRD files its Helm chart's templates are made from (the chart wraps the same spec in
// template lines; TestCertManagerFilesAreTheChartsCRDs keeps that true on a version bump). The
// Prometheus operator's example/prometheus-operator-crd is what its bundle.yaml installs. Only
// the kinds a render writes or a user creates next to it are installed: the operator's
// Prometheus and Alertmanager CRDs are large and nothing here uses them.
var sources = map[string]Source{
	"cert-manager.io": {Module: certManager, Files: []string{
		"deploy/crds/cert-manager.io_certificates.yaml",
		"deploy/crds/cert-manager.io_certificaterequests.yaml",
		"deploy/crds/cert-manager.io_issuers.yaml",
		"deploy/crds/cert-manager.io_clusterissuers.yaml",
	}},
	"monitoring.coreos.com": {Module: promOp, Files: []string{
		"example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
		"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
	}},
}

// Groups lists the API groups this package has CRDs for, sorted.
func Groups() []string {
	out := make([]string, 0, len(sources))
	for g := range sources {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// For returns where group's CRDs come from; ok is false for a group no project here defines.
func For(group string) (src Source, ok bool) {
	src, ok = sources[group]
	return src, ok
}

// Stream returns group's CRDs as one YAML stream, ready to apply.
func Stream(group string) ([]byte, error) {
	src, ok := sources[group]
	if !ok {
		return nil, fmt.Errorf("no CRDs known for API group %q (known: %v)", group, Groups())
	}
	dir, err := ModuleDir(src.Module)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, f := range src.Files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("CRDs of %s: %w", group, err)
		}
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

var (
	dirMu sync.Mutex
	dirs  = map[string]string{}
)

// download is what `go mod download -json` reports about one module.
type download struct {
	Path, Version, Dir, Sum, Error string
}

// ModuleDir returns the module cache directory of module at the version hack/tools/crds pins,
// downloading it if needed. -mod=readonly makes the go command check the zip against the tools
// module's go.sum: a module whose content changed upstream fails here instead of being used.
func ModuleDir(module string) (string, error) {
	dirMu.Lock()
	defer dirMu.Unlock()
	if d, ok := dirs[module]; ok {
		return d, nil
	}
	root, err := testenv.RepoRootDir()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(testenv.GoTool(), "mod", "download", "-json", module)
	cmd.Dir = filepath.Join(root, ToolsModule)
	// A go.work above the checkout or -mod=mod in the caller's GOFLAGS would change what is
	// resolved; the pin is this directory's go.mod and go.sum alone.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var d download
	if err := json.Unmarshal(out, &d); err != nil {
		return "", fmt.Errorf("go mod download -json %s in %s: %v: %s (%v)", module, ToolsModule, runErr, stderr.String(), err)
	}
	if d.Error != "" || runErr != nil {
		return "", fmt.Errorf("go mod download %s in %s: %s %v %s", module, ToolsModule, d.Error, runErr, stderr.String())
	}
	if d.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s reported no directory", module, d.Version)
	}
	dirs[module] = d.Dir
	return d.Dir, nil
}
