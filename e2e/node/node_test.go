package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestThreeVotersFormOnRealNode: the default 3-voter render, applied unchanged, forms a cluster
// on the real node: the kubelet runs the rqlite image's rqlited under the restricted
// securityContext, the peers init script under BusyBox sh, the probes through the pod IPs;
// rqlited finds its peers through CoreDNS and the headless Service; the shrink Job runs in the
// function image's container with its real ServiceAccount token and completes.
func TestThreeVotersFormOnRealNode(t *testing.T) {
	e := newEnv(t, "form")
	start := time.Now()
	e.apply(e.render(3))
	voters := []string{"rqlite-0", "rqlite-1", "rqlite-2"}
	e.waitReady(3*time.Minute, voters...)
	t.Logf("3 voters Ready %s after apply", time.Since(start).Round(100*time.Millisecond))

	// DNS discovery: the headless Service resolves, through the kube-dns Service, to the
	// three pod IPs.
	var podIPs []string
	for _, name := range voters {
		podIPs = append(podIPs, e.pod(name).Status.PodIP)
	}
	slices.Sort(podIPs)
	e.waitFor(30*time.Second, "headless Service in DNS", func(ctx context.Context) error {
		addrs, err := node.Resolver().LookupHost(ctx, fmt.Sprintf("rqlite-headless.%s.svc.cluster.local", e.ns))
		if err != nil {
			return err
		}
		slices.Sort(addrs)
		if !slices.Equal(addrs, podIPs) {
			return fmt.Errorf("resolves to %v, want %v", addrs, podIPs)
		}
		return nil
	})

	// One Raft leader among three voters, each advertising its headless-Service name.
	cl := e.client(voters...)
	var nodes []rqlite.Node
	e.waitFor(30*time.Second, "Raft membership", func(ctx context.Context) error {
		var err error
		if nodes, err = cl.Nodes(ctx); err != nil {
			return err
		}
		leaders := 0
		for _, n := range nodes {
			if n.Leader {
				leaders++
			}
		}
		if len(nodes) != 3 || leaders != 1 {
			return fmt.Errorf("nodes %+v", nodes)
		}
		return nil
	})
	for _, n := range nodes {
		want := fmt.Sprintf("http://%s.rqlite-headless.%s.svc.cluster.local:4001", n.ID, e.ns)
		if n.APIAddr != want || !n.Voter || !n.Reachable {
			t.Errorf("node %s: %+v, want a reachable voter advertising %s", n.ID, n, want)
		}
	}
	// A write through the client Service's ClusterIP (kube-proxy) reaches the leader.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := node.Client().CoreV1().Services(e.ns).Get(ctx, "rqlite", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc := rqlite.MustNew(rqlite.Options{URLs: []string{"http://" + svc.Spec.ClusterIP + ":4001"},
		HTTPClient: node.HTTPClient(), Timeout: 10 * time.Second})
	// kube-proxy programs the Service's endpoints a moment after the pods turn Ready (until
	// then the ClusterIP refuses connections), as in any cluster: retry until it has.
	e.waitFor(30*time.Second, "create table through the Service IP", func(ctx context.Context) error {
		_, err := sc.Execute(ctx, rqlite.Stmt("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
		return err
	})
	if _, err := sc.Execute(ctx, rqlite.Stmt("INSERT INTO t(v) VALUES(?)", "hello")); err != nil {
		t.Fatalf("insert through the Service IP: %v", err)
	}
	rows, err := cl.Query(ctx, rqlite.LevelStrong, "SELECT v FROM t")
	if err != nil || len(rows.Values) != 1 || rows.Values[0][0] != "hello" {
		t.Fatalf("strong read: %v, %v", rows.Values, err)
	}

	e.waitJobComplete(2 * time.Minute)

	t.Run("RestrictedSecurityContext", func(t *testing.T) {
		e := &env{t: t, ns: e.ns}
		id, err := e.exec("rqlite-0", "rqlite", "id")
		if err != nil {
			t.Fatalf("id: %v", err)
		}
		if !strings.HasPrefix(id, "uid=10050 gid=10050") || !strings.Contains(id, "10050") {
			t.Errorf("id in the rqlite container: %q, want uid=10050 gid=10050", id)
		}
		// The root filesystem is read-only; only the volumes take writes.
		out, err := e.exec("rqlite-0", "rqlite", "/bin/sh", "-c", "touch /x")
		if err == nil || !strings.Contains(out, "Read-only file system") {
			t.Errorf("touch /x: err %v, output %q; want Read-only file system", err, out)
		}
		for _, dir := range []string{"/rqlite/file", "/tmp"} {
			if out, err := e.exec("rqlite-0", "rqlite", "/bin/sh", "-c", "touch "+dir+"/probe && rm "+dir+"/probe"); err != nil {
				t.Errorf("write to the volume at %s: %v: %s", dir, err, out)
			}
		}
		// The data volume belongs to the fsGroup, as the kubelet set it up on the PVC.
		if out, err := e.exec("rqlite-0", "rqlite", "/bin/sh", "-c", "stat -c '%g' /rqlite/file/data"); err != nil || out != "10050" {
			t.Errorf("group of /rqlite/file/data: %q, %v; want 10050", out, err)
		}
		// rqlited itself (PID 1 of the container): no capabilities, no_new_privs, seccomp
		// filter mode (RuntimeDefault).
		status, err := e.exec("rqlite-0", "rqlite", "cat", "/proc/1/status")
		if err != nil {
			t.Fatalf("/proc/1/status: %v", err)
		}
		for _, want := range []string{"CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(status, want) {
				t.Errorf("rqlited's /proc/1/status lacks %q:\n%s", want, status)
			}
		}
	})
}
