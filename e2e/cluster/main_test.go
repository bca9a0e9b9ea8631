// Package cluster runs the function's real render on a real control plane (etcd,
// kube-apiserver, kube-controller-manager from `make tools`) with internal/podagent playing the
// scheduler and the kubelet, so the rendered StatefulSets, Services, ConfigMap and Job become
// real rqlited processes that form, grow and shrink clusters.
//
// What the pod agent fakes, and how, is in its package documentation. Two of its choices shape
// every test here:
//   - DNS: containers resolve names through the agent's cluster DNS server (Services and
//     EndpointSlices from the API, like CoreDNS), reached through a bind-mounted resolv.conf with
//     the namespace's search path. rqlited relies on it for discovery (-disco-mode=dns on the
//     voters' headless Service), for the namespace-relative Raft addresses
//     (rqlite-N.rqlite-headless) and for its advertised HTTP address. A ClusterIP Service
//     resolves to its ready endpoints' pod IPs (no kube-proxy).
//   - Network: every pod has its own 127.a.b.n address; the rendered bind address 0.0.0.0 is
//     rewritten to it, the one deliberate difference from a real cluster.
//
// Tests that re-apply a render first wait for the previous render's shrink Job to complete, as
// kpt (depends-on) and Argo CD (PreSync hook) do. A shrink Job still running when a larger render
// is applied undoes the scale-up: found with this package, the Job of the first render, waiting
// for the new cluster's leader, later read the StatefulSet at 5 replicas against its --target=3,
// scaled it back to 3 and removed rqlite-3 and rqlite-4 from Raft. That is a defect of the
// shrink Job (fn/shrink acts on a replica count newer than the render it belongs to), not of
// this package's ordering.
//
// TestMain builds rqlite-fn from this tree (it stands for the shrink Job's image) and starts
// one control plane for all tests; each test gets its own restricted namespace and pod agent.
// A missing tool fails the run with a pointer to `make tools`; nothing is skipped.
package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

var (
	cp    *testenv.ControlPlane
	fnBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rqlite-krm-e2e-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/cluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if fnBin, err = testenv.BuildFunction(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/cluster:", err)
		return 1
	}
	var stop func()
	cp, stop, err = testenv.StartControlPlaneMain(testenv.ControlPlaneOptions{ControllerManager: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e/cluster: %v\n(run `make tools` if a tool is missing)\n", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		cp.WriteLogTails(os.Stderr, 30)
	}
	stop()
	return code
}
