package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestRecoveryFromQuorumLoss follows the README runbook "Recovery from quorum loss", in its
// "recover one node, others rejoin" form, against real rqlited processes: two of three voters
// lose their pods and volumes for good, the survivor cannot elect a leader, and peers.json
// (installed by the init container from the ConfigMap) brings it back with its data.
func TestRecoveryFromQuorumLoss(t *testing.T) {
	const rows = 20
	e := newEnv(t, "recover")
	voters, rev := e.recoverableCluster(rows)

	// The outage: rqlite-1 and rqlite-2 stop (their nodes are gone) and their volumes are lost.
	// They must stay down: empty pods reappearing under the same node ids and Raft addresses
	// might vote for rqlite-0 (a Raft node with no configuration does not refuse a candidate) and
	// end the outage without the runbook.
	e.scaleVoters(1)
	e.waitPodsGone(90*time.Second, "rqlite-1", "rqlite-2")
	e.deleteClaims(60*time.Second, "data-rqlite-1", "data-rqlite-2")

	s0 := e.client("rqlite-0")
	e.waitFor(60*time.Second, "rqlite-0 without a leader", func(ctx context.Context) error {
		st, err := s0.Status(ctx)
		if err != nil {
			return err
		}
		if st.LeaderID != "" || st.RaftState == "Leader" {
			return fmt.Errorf("state %s, leader %q", st.RaftState, st.LeaderID)
		}
		return nil
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := s0.Execute(wctx, rqlite.Stmt("INSERT INTO t(v) VALUES('lost')"))
	wcancel()
	if err == nil {
		t.Fatal("rqlite-0 accepted a write with 2 of 3 voters gone")
	}
	t.Logf("quorum lost: write refused: %v", err)

	// Runbook steps 1 and 2: the survivor count and the switch, in one render.
	e.apply(e.renderRecovery(1, true))
	if got := e.voterRevision(); got != rev {
		t.Errorf("staticPeers on: StatefulSet revision %s, was %s: the pod template changed", got, rev)
	}
	e.waitConfig(30*time.Second, "static-peers", "true")

	// Step 3: restart the voters (only rqlite-0 is left).
	e.replacePod(2*time.Minute, "rqlite-0")
	if logs := e.agent.Logs("rqlite-0", "install-peers"); !strings.Contains(logs, "installed peers.json for rqlite-0") {
		t.Errorf("install-peers did not install peers.json; log:\n%s", tail(logs, 10))
	}
	// A new incarnation has a new pod IP.
	s0 = e.client("rqlite-0")
	e.waitMembership(60*time.Second, s0, []string{"rqlite-0"}, nil)
	e.waitRows(30*time.Second, "rqlite-0", rqlite.LevelStrong, rows)
	before := e.identities("rqlite-0")

	// Step 4: switch off, no template change, no restart.
	e.apply(e.renderRecovery(1, false))
	if got := e.voterRevision(); got != rev {
		t.Errorf("staticPeers off: StatefulSet revision %s, was %s: the pod template changed", got, rev)
	}
	e.waitConfig(30*time.Second, "static-peers", "false")
	// The shrink Job to 1 is back in the render; it finds nothing to remove, and it has to finish
	// before the scale-up is applied (see the package documentation).
	e.waitShrinkJob(90 * time.Second)
	e.checkNotRestarted("staticPeers off", before)

	// Scale back up: the lost voters come back on fresh claims and join through discovery.
	e.apply(e.renderRecovery(3, false))
	e.waitReady(2*time.Minute, voters...)
	e.waitMembership(60*time.Second, s0, voters, nil)
	for _, p := range voters[1:] {
		if st, err := os.Stat(filepath.Join(e.agent.PVCDir("data-"+p), "data", "raft", "peers.json")); err == nil {
			t.Errorf("%s: peers.json on a fresh volume (%v)", p, st.ModTime())
		}
		e.waitRows(60*time.Second, p, rqlite.LevelNone, rows)
		e.waitRows(30*time.Second, p, rqlite.LevelStrong, rows)
	}
	e.waitShrinkJob(90 * time.Second)

	// A later restart must not apply peers.json again: the init container runs with the switch
	// off, and the cluster keeps its three voters.
	e.replacePod(2*time.Minute, "rqlite-0")
	// The agent's "### podagent" line quotes the script, so look for the expanded pod name.
	if logs := e.agent.Logs("rqlite-0", "install-peers"); strings.Contains(logs, "installed peers.json for rqlite-0") {
		t.Errorf("install-peers installed peers.json with the switch off; log:\n%s", tail(logs, 10))
	}
	peers := filepath.Join(e.agent.PVCDir("data-rqlite-0"), "data", "raft", "peers.json")
	if _, err := os.Stat(peers); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after the restart: %v (want no such file)", peers, err)
	}
	e.waitMembership(60*time.Second, e.client(voters...), voters, nil)
	for _, p := range voters {
		e.waitRows(60*time.Second, p, rqlite.LevelStrong, rows)
	}
}

// TestReadOnlyNeverServesStale is the Helm chart author's manual check, automated: the pool
// holds 42, scales 7 → 1 (the six volumes that go keep 42: whenScaled Retain), a writer then
// replaces the value with the current time every 50 ms, and the pool scales 1 → 7 → 1 again
// under that writer. No read-only pod that is routable (Ready in the API, or a ready endpoint of
// <name>-readonly) may ever return 42, because its readiness probe is /readyz?sync; nodes
// scaled away leave the Raft configuration on their own.
func TestReadOnlyNeverServesStale(t *testing.T) {
	e := newEnv(t, "stale")
	e.apply(e.render(3, 7))
	voters, pool := names("rqlite", 3), names("rqlite-readonly", 7)
	e.waitReady(3*time.Minute, append(append([]string{}, voters...), pool...)...)
	vc := e.client(voters...)
	e.waitMembership(90*time.Second, vc, voters, pool)
	e.waitShrinkJob(60 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := vc.Execute(ctx,
		rqlite.Stmt("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)"),
		rqlite.Stmt("INSERT INTO kv(id, v) VALUES(1, '42')")); err != nil {
		t.Fatal(err)
	}
	for _, p := range pool {
		ro := e.client(p)
		e.waitFor(30*time.Second, p+" serves 42 at level=none", func(ctx context.Context) error {
			v, err := readValue(ctx, ro)
			if err != nil {
				return err
			}
			if v != "42" {
				return fmt.Errorf("value %q", v)
			}
			return nil
		})
	}

	gone := pool[1:]
	e.apply(e.render(3, 1))
	e.waitPodsGone(90*time.Second, gone...)
	// Nobody removes them: each node leaves the configuration itself on SIGTERM.
	e.waitMembership(30*time.Second, vc, voters, pool[:1])
	for _, p := range gone {
		if e.agent.PVCDir("data-"+p) == "" {
			t.Fatalf("claim data-%s is gone: the scale-up would not reuse the old volume", p)
		}
	}
	e.waitShrinkJob(60 * time.Second)

	// The first update is acknowledged before the pool is scaled up, so every readiness probe
	// of the new pods runs after it: 42 is stale from here on.
	if _, err := vc.Execute(ctx, rqlite.Stmt("UPDATE kv SET v=? WHERE id=1", time.Now().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	u := startUpdater(vc)
	t.Cleanup(func() { u.halt() })
	r := startReader(e, pool)
	t.Cleanup(func() { r.halt() })

	e.apply(e.render(3, 7))
	e.waitReady(3*time.Minute, pool...)
	e.waitMembership(90*time.Second, vc, voters, pool)
	// Keep reading a while after all are Ready, so each pod is read many times as a ready one.
	e.waitFor(90*time.Second, "reads from every ready read-only pod", func(context.Context) error {
		counts := r.readyReads()
		for _, p := range pool {
			if counts[p] < 10 {
				return fmt.Errorf("ready reads %v", counts)
			}
		}
		return nil
	})
	// Without this the test would prove nothing: the returning pods must have started from the
	// volumes that hold 42.
	for _, p := range gone {
		if logs := e.agent.Logs(p, "rqlite"); !strings.Contains(logs, "preexisting node state detected") {
			t.Errorf("%s did not start from its old volume; log tail:\n%s", p, tail(logs, 15))
		}
	}

	// And down to 1 again, still under the writer.
	e.apply(e.render(3, 1))
	e.waitPodsGone(90*time.Second, gone...)
	e.waitMembership(30*time.Second, vc, voters, pool[:1])

	ready, notReadyStale, stale := r.halt()
	ok, failures := u.halt()
	t.Logf("%d updates; ready reads per pod %v; 42 served by not-yet-ready pods %d times", ok, ready, notReadyStale)
	for i, s := range stale {
		if i == 10 {
			t.Errorf("... and %d more stale reads", len(stale)-i)
			break
		}
		t.Errorf("stale read: %s", s)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d updates failed; first: %v", len(failures), ok+len(failures), failures[0])
	}
	if ok < 10 {
		t.Errorf("only %d updates succeeded: the updater did not run during the scaling", ok)
	}
}

// recoverableCluster starts three voters with the recovery switch off, writes rows rows into
// table t and waits until rqlite-0, the survivor of the recovery tests, holds every one itself: a
// committed entry need only be on a majority, and an outage that took rows with it could not be
// judged. It returns the voters and the voter StatefulSet's revision.
func (e *env) recoverableCluster(rows int) (voters []string, rev string) {
	e.t.Helper()
	e.apply(e.renderRecovery(3, false))
	voters = names("rqlite", 3)
	e.waitReady(90*time.Second, voters...)
	e.waitMembership(30*time.Second, e.client("rqlite-0"), voters, nil)
	e.waitShrinkJob(60 * time.Second)
	rev = e.voterRevision()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := e.client(voters...)
	if _, err := cl.Execute(ctx, rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
		e.t.Fatal(err)
	}
	for i := range rows {
		if _, err := cl.Execute(ctx, rqlite.Stmt("INSERT INTO t(v) VALUES(?)", fmt.Sprint("row", i))); err != nil {
			e.t.Fatal(err)
		}
	}
	e.waitRows(30*time.Second, "rqlite-0", rqlite.LevelNone, rows)
	return voters, rev
}

// renderRecovery renders voters (no read-only pool) with the recovery switch. The shrink Job is
// left out of the render while the switch is on, so there is then no Job to wait for.
func (e *env) renderRecovery(voters int, staticPeers bool) []byte {
	e.t.Helper()
	spec := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: %s\nspec:\n  voters:\n    replicas: %d\n  recovery:\n    staticPeers: %t\n", e.ns, voters, staticPeers)
	res := generate.FromYAML([]byte(spec))
	if res.Problems.HasErrors() {
		e.t.Fatalf("render %d voters, staticPeers %t: %v", voters, staticPeers, res.Problems)
	}
	out, err := render.EncodeAll(res.Objects)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.Cluster.HasShrinkJob() {
		e.job = render.ShrinkJobName(res.Cluster)
	} else {
		e.job = ""
	}
	if got := strings.Contains(string(out), "\nkind: Job\n"); got != !staticPeers {
		e.t.Fatalf("render %d voters, staticPeers %t: shrink Job rendered: %t", voters, staticPeers, got)
	}
	return out
}

// voterRevision is the voter StatefulSet's update revision once the controller has seen its
// latest spec: it changes exactly when the pod template does.
func (e *env) voterRevision() string {
	e.t.Helper()
	var rev string
	e.waitFor(30*time.Second, "StatefulSet rqlite observed", func(ctx context.Context) error {
		s, err := cp.Client().AppsV1().StatefulSets(e.ns).Get(ctx, "rqlite", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Status.ObservedGeneration != s.Generation || s.Status.UpdateRevision == "" {
			return fmt.Errorf("generation %d, observed %d", s.Generation, s.Status.ObservedGeneration)
		}
		rev = s.Status.UpdateRevision
		return nil
	})
	return rev
}

// scaleVoters changes replicas through the scale subresource, as an outage or a hand-run
// `kubectl scale` would, outside the render.
func (e *env) scaleVoters(n int32) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sts := cp.Client().AppsV1().StatefulSets(e.ns)
	sc, err := sts.GetScale(ctx, "rqlite", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	sc.Spec.Replicas = n
	if _, err := sts.UpdateScale(ctx, "rqlite", sc, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitPodsGone(timeout time.Duration, pods ...string) {
	e.t.Helper()
	e.waitFor(timeout, fmt.Sprintf("pods %v gone", pods), func(ctx context.Context) error {
		for _, p := range pods {
			_, err := cp.Client().CoreV1().Pods(e.ns).Get(ctx, p, metav1.GetOptions{})
			if err == nil {
				return fmt.Errorf("%s still exists", p)
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// deleteClaims deletes PVCs no pod uses and waits until the agent has removed their
// directories: the volumes are lost, and a pod that comes back for one gets a fresh claim.
func (e *env) deleteClaims(timeout time.Duration, claims ...string) {
	e.t.Helper()
	dirs := make([]string, len(claims))
	for i, c := range claims {
		if dirs[i] = e.agent.PVCDir(c); dirs[i] == "" {
			e.t.Fatalf("claim %s has no directory", c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cp.Client().CoreV1().PersistentVolumeClaims(e.ns).Delete(ctx, c, metav1.DeleteOptions{})
		cancel()
		if err != nil {
			e.t.Fatalf("delete claim %s: %v", c, err)
		}
	}
	e.waitFor(timeout, fmt.Sprintf("volumes of %v removed", claims), func(context.Context) error {
		for i, d := range dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %s still there (%v)", claims[i], d, err)
			}
		}
		return nil
	})
}

func (e *env) waitConfig(timeout time.Duration, key, want string) {
	e.t.Helper()
	e.waitFor(timeout, "ConfigMap "+key+"="+want, func(ctx context.Context) error {
		cm, err := cp.Client().CoreV1().ConfigMaps(e.ns).Get(ctx, "rqlite-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := cm.Data[key]; got != want {
			return fmt.Errorf("%s=%q", key, got)
		}
		return nil
	})
}

// replacePod deletes a pod and waits until the StatefulSet's new incarnation (another UID) is
// Ready.
func (e *env) replacePod(timeout time.Duration, name string) {
	e.t.Helper()
	old := e.pod(name).UID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := cp.Client().CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
	cancel()
	if err != nil {
		e.t.Fatalf("delete pod %s: %v", name, err)
	}
	e.waitFor(timeout, name+" replaced and Ready", func(ctx context.Context) error {
		p, err := cp.Client().CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == old {
			return errors.New("old incarnation still there")
		}
		if !podReady(p) {
			return fmt.Errorf("new incarnation %s not Ready (phase %s)", p.UID, p.Status.Phase)
		}
		return nil
	})
	// The agent's cache may trail the API; URL and Logs must name the new incarnation.
	e.waitReady(30*time.Second, name)
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitRows waits until a pod answers SELECT COUNT(*) FROM t with n at the given level.
func (e *env) waitRows(timeout time.Duration, pod, level string, n int) {
	e.t.Helper()
	cl := e.client(pod)
	e.waitFor(timeout, fmt.Sprintf("%s serves %d rows at level %s", pod, n, level), func(ctx context.Context) error {
		res, err := cl.Query(ctx, level, "SELECT COUNT(*) FROM t")
		if err != nil {
			return err
		}
		if len(res.Values) != 1 || len(res.Values[0]) != 1 {
			return fmt.Errorf("result %v", res.Values)
		}
		if got := fmt.Sprint(res.Values[0][0]); got != strconv.Itoa(n) {
			return fmt.Errorf("%s rows", got)
		}
		return nil
	})
}

func readValue(ctx context.Context, cl *rqlite.Client) (string, error) {
	res, err := cl.Query(ctx, rqlite.LevelNone, "SELECT v FROM kv WHERE id=1")
	if err != nil {
		return "", err
	}
	if len(res.Values) != 1 || len(res.Values[0]) != 1 {
		return "", fmt.Errorf("result %v", res.Values)
	}
	return fmt.Sprint(res.Values[0][0]), nil
}

// updater sets kv's value to the current time every 50 ms until halted.
type updater struct {
	cl       *rqlite.Client
	stop     chan struct{}
	done     chan struct{}
	ok       int
	failures []error
}

func startUpdater(cl *rqlite.Client) *updater {
	u := &updater{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(u.done)
		for {
			select {
			case <-u.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			at := time.Now().Format(time.RFC3339Nano)
			_, err := u.cl.Execute(ctx, rqlite.Stmt("UPDATE kv SET v=? WHERE id=1", at))
			cancel()
			if err != nil {
				u.failures = append(u.failures, fmt.Errorf("update at %s: %w", at, err))
			} else {
				u.ok++
			}
		}
	}()
	return u
}

func (u *updater) halt() (ok int, failures []error) {
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	<-u.done
	return u.ok, u.failures
}

// reader reads kv's value at level=none from every read-only pod a client could be routed to:
// Ready in the API or a ready endpoint of the read-only Service. Pods that are neither are read
// too, only to show that the old volumes really hold 42 (the hazard the probe guards against).
type reader struct {
	e    *env
	pods []string
	stop chan struct{}
	done chan struct{}

	mu            sync.Mutex
	ready         map[string]int
	notReadyStale int
	stale         []string
}

func startReader(e *env, pods []string) *reader {
	r := &reader{e: e, pods: pods, stop: make(chan struct{}), done: make(chan struct{}), ready: map[string]int{}}
	go r.loop()
	return r
}

func (r *reader) loop() {
	defer close(r.done)
	clients := map[string]*rqlite.Client{} // by pod IP: a new incarnation gets a new one
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		routable := map[string][]string{}
		list, err := cp.Client().CoreV1().Pods(r.e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=readonly"})
		uids := map[string]types.UID{}
		if err == nil {
			for i := range list.Items {
				p := &list.Items[i]
				uids[p.Name] = p.UID
				if podReady(p) {
					routable[p.Name] = append(routable[p.Name], "Ready condition")
				}
			}
		}
		if eps, err := r.e.readyEndpoints(ctx, "rqlite-readonly"); err == nil {
			for p := range eps {
				routable[p] = append(routable[p], "Service endpoint")
			}
		}
		// Routability is taken before the read, so a pod flagged as routable was so before it
		// answered: a flagged 42 is a stale read a client could have received.
		for _, p := range r.pods {
			url := r.e.agent.URL(p)
			if url == "" {
				continue
			}
			cl, ok := clients[url]
			if !ok {
				cl = rqlite.MustNew(rqlite.Options{URLs: []string{url}, Timeout: 2 * time.Second})
				clients[url] = cl
			}
			v, err := readValue(ctx, cl)
			if err != nil {
				continue
			}
			r.mu.Lock()
			switch why := routable[p]; {
			case len(why) > 0 && v == "42":
				r.stale = append(r.stale, fmt.Sprintf("%s (UID %s, %s) returned 42 at %s", p, uids[p], strings.Join(why, ", "), time.Now().Format(time.RFC3339Nano)))
			case len(why) > 0:
				r.ready[p]++
			case v == "42":
				r.notReadyStale++
			}
			r.mu.Unlock()
		}
		cancel()
	}
}

func (r *reader) readyReads() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.ready {
		out[k] = v
	}
	return out
}

func (r *reader) halt() (ready map[string]int, notReadyStale int, stale []string) {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready, r.notReadyStale, r.stale
}
