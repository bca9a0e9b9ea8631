// Package security runs real rqlited v8.43.4 processes (internal/testenv) with exactly the TLS,
// authentication and shrink-Job settings rqlite-krm renders, and checks that they do what the
// documentation says: a cluster forms over node mutual TLS with server-name verification, a node
// with a foreign certificate cannot join, the HTTPS API verifies with the cluster CA, clients
// without credentials get 401, the anonymous user "*" with only "ready" can run the kubelet probes
// and nothing else, and the shrink Job's user can do its job and no more.
//
// Nothing is taken from the renderer's Go code except its output: certificates are issued from the
// rendered cert-manager Certificates (SANs, usages, key algorithm), rqlited's flags are the
// rendered container args after a small fake kubelet (kubelet_test.go) has expanded $(VARS) from
// the rendered env and laid out the rendered Secret and ConfigMap volumes in a temporary
// directory. Only the bind and Raft addresses are replaced by the harness's loopback ones, because
// rqlited cannot resolve pod DNS names here. HTTP names (advertised API addresses, the client
// Service) are resolved by a test resolver (names_test.go) in this process and, for the built
// rqlite-fn, through an HTTPS CONNECT proxy, so TLS verification always sees the real names.
//
// A missing rqlited fails the tests (never skips them): `make tools`.
package security

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// `make golden` runs `go test ./e2e/... -run Golden -update`; every test binary it reaches must
// accept the flag. Nothing here is a golden file.
var _ = flag.Bool("update", false, "accepted for `make golden`; this package has no golden files")

// fnBin is rqlite-fn built from this tree for the shrink Job tests: what the Job's image runs.
var fnBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rqlite-krm-e2e-security-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/security:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if fnBin, err = testenv.BuildFunction(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/security:", err)
		return 1
	}
	return m.Run()
}
