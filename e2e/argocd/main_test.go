// Package argocd runs the rqlite-krm Config Management Plugin the way Argo CD does, with Argo
// CD's own code on both ends of the plugin socket:
//
//   - the sidecar is the image users build from examples/argocd/Dockerfile (staged by
//     hack/stage-argocd-image.sh, built into the local Docker engine, nothing pulled), started
//     by the real engine as repo-server-patch.yaml describes it: argocd-cmp-server (built from
//     argo-cd v3.5.8 by hack/install-tools.sh) mounted at /var/run/argocd/argocd-cmp-server as
//     the entrypoint, examples/argocd/plugin.yaml at /home/argocd/cmp-server/config/plugin.yaml,
//     the plugin socket directory shared with the host, user 999, read-only root filesystem,
//     /tmp a volume of its own, no capabilities, no new privileges, no network;
//   - the repo-server is argocd-cmpclient (hack/tools/argocd/cmpclient), argo-cd's client code
//     making the repo-server's calls over that socket: discovery, MatchRepository and
//     GenerateManifest with the repository streamed as the repo-server streams it.
//
// TestMain builds rqlite-fn from this tree; it goes into the sidecar image and renders the
// expected output on the host, so both sides run the same function.
//
// Nothing here skips: a missing Docker engine, argocd-cmp-server, argocd-cmpclient, kustomize or
// busybox fails with what to install (`make tools`; a running dockerd).
package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

var (
	repoRoot string
	// fnBin is the static rqlite-fn built for this run.
	fnBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = testenv.RepoRootDir(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/argocd:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "rqlite-krm-e2e-argocd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/argocd:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if fnBin, err = testenv.BuildFunction(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/argocd:", err)
		return 1
	}
	code := m.Run()
	// Sidecars live for the whole run (several tests share one); their logs are the cmp-server's
	// side of any failure.
	stopSidecars(code != 0)
	return code
}

func repoPath(parts ...string) string { return filepath.Join(append([]string{repoRoot}, parts...)...) }
