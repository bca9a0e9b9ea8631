package node

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReadOnlyPoolJoinsOnRealNode is e2e/cluster's TestReadOnlyPoolJoins on the real node, with
// its pass criteria: a read-only pool joins as non-voters (discovering the voters through
// CoreDNS), serves level=none reads once caught up, and scaling it to 0 makes its nodes leave
// the Raft configuration themselves on SIGTERM, which the kubelet sends after the preStop sleep.
func TestReadOnlyPoolJoinsOnRealNode(t *testing.T) {
	e := newEnv(t, "readonly")
	e.apply(e.renderPool(3, 2))
	voters, pool := names(3), []string{"rqlite-readonly-0", "rqlite-readonly-1"}
	e.waitReady(3*time.Minute, append(slices.Clone(voters), pool...)...)
	e.waitMembershipWith(60*time.Second, voters, pool)
	e.waitJobComplete(2 * time.Minute)

	cl := e.client(voters...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cl.Execute(ctx, rqlite.Stmt("CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
		t.Fatal(err)
	}
	const rows = 10
	for i := range rows {
		if _, err := cl.Execute(ctx, rqlite.Stmt("INSERT INTO r(v) VALUES(?)", fmt.Sprint("row", i))); err != nil {
			t.Fatal(err)
		}
	}
	uids := map[string]string{}
	for _, p := range pool {
		uids[p] = string(e.pod(p).UID)
		ro := e.client(p)
		e.waitFor(30*time.Second, p+" serves the rows at level=none", func(ctx context.Context) error {
			res, err := ro.Query(ctx, rqlite.LevelNone, "SELECT COUNT(*) FROM r")
			if err != nil {
				return err
			}
			if got := fmt.Sprint(res.Values[0][0]); got != strconv.Itoa(rows) {
				return fmt.Errorf("%s rows", got)
			}
			return nil
		})
	}

	// The kubelet deletes a pod's log files with the pod, so they are read while the pods
	// terminate, keeping the last read of each: it holds what rqlited wrote on SIGTERM.
	lastLogs := map[string]string{}
	e.apply(e.renderPool(3, 0))
	e.waitFor(2*time.Minute, "read-only pods gone", func(ctx context.Context) error {
		for _, p := range pool {
			if logs, err := node.ContainerLogs(e.ns, p, uids[p], "rqlite"); err == nil {
				lastLogs[p] = logs
			}
		}
		list, err := node.Client().CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=readonly"})
		if err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d read-only pods left", len(list.Items))
		}
		return nil
	})
	e.waitMembershipWith(60*time.Second, voters, nil)
	for _, p := range pool {
		if logs := lastLogs[p]; !strings.Contains(logs, "removed this node successfully from cluster before shutdown") {
			t.Errorf("%s did not remove itself on shutdown; last log read:\n%s", p, logs)
		}
	}
}

// renderPool renders voters and a read-only pool of the given size.
func (e *env) renderPool(voters, readOnly int) []byte {
	e.t.Helper()
	return e.renderSpec(voters, fmt.Sprintf("  readOnly:\n    replicas: %d\n", readOnly))
}

// waitMembershipWith waits until the voters and non-voters are exactly these, all reachable
// at their headless-Service Raft addresses, with one leader.
func (e *env) waitMembershipWith(timeout time.Duration, voters, nonVoters []string) {
	e.t.Helper()
	cl := e.client(voters...)
	e.waitFor(timeout, "membership", func(ctx context.Context) error {
		nodes, err := cl.Nodes(ctx)
		if err != nil {
			return err
		}
		var gotV, gotNV []string
		leaders := 0
		for _, n := range nodes {
			headless := "rqlite-headless"
			if n.Voter {
				gotV = append(gotV, n.ID)
			} else {
				gotNV = append(gotNV, n.ID)
				headless = "rqlite-readonly-headless"
			}
			if !n.Reachable {
				return fmt.Errorf("%s unreachable: %s", n.ID, n.Error)
			}
			if n.Leader {
				leaders++
			}
			if want := n.ID + "." + headless + ":4002"; n.Addr != want {
				return fmt.Errorf("%s has Raft address %q, want %q", n.ID, n.Addr, want)
			}
		}
		slices.Sort(gotV)
		slices.Sort(gotNV)
		if !slices.Equal(gotV, slices.Sorted(slices.Values(voters))) || !slices.Equal(gotNV, slices.Sorted(slices.Values(nonVoters))) || leaders != 1 {
			return fmt.Errorf("voters %v, non-voters %v, %d leaders", gotV, gotNV, leaders)
		}
		return nil
	})
}
