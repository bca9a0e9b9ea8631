// Package node runs the function's render on a real node (internal/testenv's Node): the real
// kubelet v1.37.1 with containerd v2.4.2 and runc, the CNI bridge, kube-proxy and CoreDNS, in
// private namespaces. Pods are real containers of real images: rqlited and BusyBox's sh in the
// rqlite image, the function image for the shrink Job, all loaded into the node's containerd
// (nothing is pulled).
//
// The whole test binary runs inside the node's namespaces (TestMain re-executes it under
// unshare), so the tests reach pod and Service IPs directly and resolve cluster names through
// the node's CoreDNS.
package node

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/images"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

var (
	node *testenv.Node

	imagesOnce   sync.Once
	imagesLoaded bool
)

func TestMain(m *testing.M) {
	if code, outer := testenv.RunInNodeNamespaces(); outer {
		os.Exit(code)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	var err error
	node, err = testenv.StartNode(3 * time.Minute)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e/node: %v\n(run `make tools` if a tool is missing)\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e/node: node Ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 {
		node.WriteLogTails(os.Stderr, 40)
	}
	node.Stop()
	return code
}

// loadImages builds the node's images and loads them once per test binary; the first test
// that needs them pays for it (docker build is cached by content).
func loadImages(t *testing.T) {
	t.Helper()
	imagesOnce.Do(func() {
		start := time.Now()
		images.LoadNode(t, node)
		imagesLoaded = true
		t.Logf("images built and loaded into the node in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if !imagesLoaded {
		t.Fatal("loading the node's images failed in an earlier test")
	}
}
