// Command argocd-cmp-server is Argo CD's Config Management Plugin server, built
// from argo-cd's own module at the version pinned in ../go.mod. In Argo CD it
// is the `argocd` multi-call binary copied into a sidecar; this module builds
// only the cmp-server command, which is all the sidecar runs.
//
// hack/install-tools.sh builds it statically (CGO_ENABLED=0), as Argo CD's
// release does: it is bind-mounted into the sidecar image, which is FROM
// scratch and has no libc.
package main

import (
	"os"

	"github.com/argoproj/argo-cd/v3/cmd/argocd-cmp-server/commands"
)

func main() {
	if err := commands.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
