package node

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// smallVoters lowers the voters' CPU request through the spec (not by editing the render): the
// default 250m × 9 voters is 2.25 CPUs of requests, more than this 2-core node can allocate, so
// the scheduler (rightly) leaves the ninth voter Pending. A user with 9 voters on small nodes
// meets the same arithmetic.
const smallVoters = "    resources:\n      requests:\n        cpu: 100m\n"

// TestScaleUpWithoutRestartsOnRealNode is e2e/cluster's TestScaleUpWithoutRestarts on the real
// node, with its pass criteria: 3 → 5 → 9 voters by re-rendering and re-applying; no existing
// pod is replaced (same UID), no container is restarted (same runtime container ID, restart
// count 0), and a writer running throughout never fails; every successful write is in the table.
func TestScaleUpWithoutRestartsOnRealNode(t *testing.T) {
	e := newEnv(t, "scale")
	e.apply(e.renderSpec(3, smallVoters))
	first := names(3)
	e.waitReady(3*time.Minute, first...)
	e.waitMembership(60*time.Second, first)
	e.waitJobComplete(2 * time.Minute)
	seen := e.identities(first...)

	w := startWriter(t, e.client(first...))
	for _, n := range []int{5, 9} {
		e.apply(e.renderSpec(n, smallVoters))
		all := names(n)
		e.waitReady(4*time.Minute, all...)
		e.waitMembership(90*time.Second, all)
		e.waitJobComplete(2 * time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cm, err := node.Client().CoreV1().ConfigMaps(e.ns).Get(ctx, "rqlite-config", metav1.GetOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cm.Data["bootstrap-expect"], strconv.Itoa(n); got != want {
			t.Errorf("%d voters: ConfigMap bootstrap-expect %q, want %q", n, got, want)
		}
		e.checkNotRestarted(fmt.Sprintf("%d voters", n), seen)
		seen = e.identities(all...)
	}
	ok, failures := w.halt()
	t.Logf("%d writes succeeded during the scale-up", ok)
	if len(failures) > 0 {
		t.Errorf("%d of %d writes failed during the scale-up; first: %v", len(failures), ok+len(failures), failures[0])
	}
	if ok < 20 {
		t.Errorf("only %d writes succeeded: the writer did not run during the scale-up", ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := e.client("rqlite-8").Query(ctx, rqlite.LevelStrong, "SELECT COUNT(*) FROM w")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rows.Values[0][0]); got != strconv.Itoa(ok) {
		t.Errorf("table has %s rows, %d writes succeeded", got, ok)
	}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("rqlite-%d", i)
	}
	return out
}

// waitMembership waits until the cluster's voters are exactly the given pods, with a leader.
func (e *env) waitMembership(timeout time.Duration, voters []string) {
	e.t.Helper()
	cl := e.client(voters[0])
	e.waitFor(timeout, fmt.Sprintf("%d voters in Raft", len(voters)), func(ctx context.Context) error {
		nodes, err := cl.Nodes(ctx)
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, v := range voters {
			want[v] = true
		}
		leaders := 0
		for _, n := range nodes {
			if !want[n.ID] || !n.Voter || !n.Reachable {
				return fmt.Errorf("node %+v", n)
			}
			if n.Leader {
				leaders++
			}
		}
		if len(nodes) != len(voters) || leaders != 1 {
			return fmt.Errorf("%d nodes, %d leaders: %+v", len(nodes), leaders, nodes)
		}
		return nil
	})
}

// podIdentity is what a replaced pod or a restarted container would change: the pod's UID and
// the rqlite container's ID in the runtime (a restart makes a new container).
type podIdentity struct {
	uid       types.UID
	container string
}

func (e *env) identities(pods ...string) map[string]podIdentity {
	e.t.Helper()
	ids := make(map[string]podIdentity, len(pods))
	for _, p := range pods {
		ids[p] = podIdentity{e.pod(p).UID, e.containerID(p, "rqlite")}
	}
	return ids
}

func (e *env) checkNotRestarted(when string, ids map[string]podIdentity) {
	e.t.Helper()
	for p, id := range ids {
		pod := e.pod(p)
		if pod.UID != id.uid {
			e.t.Errorf("%s: pod %s was replaced (UID %s, was %s)", when, p, pod.UID, id.uid)
		}
		if c := e.containerID(p, "rqlite"); c != id.container {
			e.t.Errorf("%s: rqlite container of %s was replaced (%s, was %s)", when, p, c, id.container)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				e.t.Errorf("%s: %s/%s restarted %d times", when, p, cs.Name, cs.RestartCount)
			}
		}
	}
}

// writer inserts one row every 20 ms until halted, recording every failure.
type writer struct {
	cl       *rqlite.Client
	stop     chan struct{}
	done     chan struct{}
	ok       int
	failures []error
}

// createWriterTable creates the writers' table, retrying until a leader answers.
func createWriterTable(t *testing.T, cl *rqlite.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cl.Execute(ctx, rqlite.Stmt("CREATE TABLE IF NOT EXISTS w (id INTEGER PRIMARY KEY, at TEXT)"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("create table: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func startWriter(t *testing.T, cl *rqlite.Client) *writer {
	t.Helper()
	createWriterTable(t, cl)
	w := &writer{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	t.Cleanup(func() { w.halt() })
	return w
}

func (w *writer) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		at := time.Now().Format(time.RFC3339Nano)
		_, err := w.cl.Execute(ctx, rqlite.Stmt("INSERT INTO w(at) VALUES(?)", at))
		cancel()
		if err != nil {
			w.failures = append(w.failures, fmt.Errorf("write at %s: %w", at, err))
		} else {
			w.ok++
		}
	}
}

func (w *writer) halt() (ok int, failures []error) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return w.ok, w.failures
}
