package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/podagent"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// shrinkImage is the image pattern the rendered shrink Job uses; the agent runs the rqlite-fn
// built by TestMain for it (the image's entrypoint is the function binary).
const shrinkImage = "ghcr.io/rqlite/rqlite-krm:*"

type env struct {
	t     *testing.T
	ns    string
	agent *podagent.Agent
	job   string // shrink Job of the last render
}

// newEnv gives a test its own Pod-Security-restricted namespace (a random suffix, so -count=2
// never meets a namespace still terminating) and a pod agent for it.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	ns := fmt.Sprintf("%s-%04x", prefix, rand.IntN(1<<16))
	testenv.CreateRestrictedNamespace(t, cp, ns)
	a := podagent.Start(t, cp, podagent.Options{
		Namespaces: []string{ns},
		Binaries:   map[string]string{shrinkImage: fnBin},
	})
	return &env{t: t, ns: ns, agent: a}
}

// render runs the function in-process on a spec with the given pool sizes (readOnly < 0: no
// read-only pool at all).
func (e *env) render(voters, readOnly int) []byte {
	e.t.Helper()
	spec := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: %s\nspec:\n  voters:\n    replicas: %d\n", e.ns, voters)
	if readOnly >= 0 {
		spec += fmt.Sprintf("  readOnly:\n    replicas: %d\n", readOnly)
	}
	res := generate.FromYAML([]byte(spec))
	if res.Problems.HasErrors() {
		e.t.Fatalf("render %d voters, %d read-only: %v", voters, readOnly, res.Problems)
	}
	out, err := render.EncodeAll(res.Objects)
	if err != nil {
		e.t.Fatal(err)
	}
	e.job = render.ShrinkJobName(res.Cluster)
	return out
}

// waitShrinkJob waits for the last render's shrink Job to complete. kpt (depends-on) and Argo CD
// (PreSync hook) both finish it before they apply anything else, so a test that re-applies a
// render does the same: a shrink Job still running when the next render is applied acts on the
// newer replica count (see the package documentation).
func (e *env) waitShrinkJob(timeout time.Duration) {
	e.t.Helper()
	e.waitFor(timeout, "shrink Job "+e.job, func(ctx context.Context) error {
		job, err := cp.Client().BatchV1().Jobs(e.ns).Get(ctx, e.job, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return nil
			case batchv1.JobFailed:
				e.t.Fatalf("shrink Job %s failed: %s: %s", e.job, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("active %d, succeeded %d, failed %d", job.Status.Active, job.Status.Succeeded, job.Status.Failed)
	})
}

// apply server-side applies a render. Pod Security admission only warns about a workload whose
// pods it would refuse (the refusal comes later, as an event of the controller), so such a
// warning fails the test at once.
func (e *env) apply(manifests []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	warnings, err := testenv.ServerSideApplyWarnings(ctx, cp, e.ns, manifests, "e2e-cluster")
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	for _, w := range warnings {
		if strings.Contains(w, "PodSecurity") {
			e.t.Errorf("apply: %s", w)
		} else {
			e.t.Logf("apply warning: %s", w)
		}
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func (e *env) waitReady(timeout time.Duration, pods ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.agent.WaitReady(ctx, pods...); err != nil {
		e.t.Fatalf("%v", err)
	}
}

// client talks to the given pods directly by IP (and fails over between them).
func (e *env) client(pods ...string) *rqlite.Client {
	e.t.Helper()
	urls := make([]string, len(pods))
	for i, p := range pods {
		urls[i] = e.agent.URL(p)
		if urls[i] == "" {
			e.t.Fatalf("pod %s has no IP", p)
		}
	}
	return rqlite.MustNew(rqlite.Options{URLs: urls, Timeout: 10 * time.Second})
}

// waitFor polls check until it returns nil.
func (e *env) waitFor(timeout time.Duration, what string, check func(ctx context.Context) error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("%s: not within %s: %v", what, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// membership describes /nodes?nonvoters&ver=2 as the test expects it: exactly these voters
// and non-voters, all reachable, one leader, Raft addresses <pod>.<headless>:4002.
func (e *env) waitMembership(timeout time.Duration, cl *rqlite.Client, voters, nonVoters []string) []rqlite.Node {
	e.t.Helper()
	var nodes []rqlite.Node
	e.waitFor(timeout, "membership", func(ctx context.Context) error {
		var err error
		nodes, err = cl.Nodes(ctx)
		if err != nil {
			return err
		}
		return checkMembership(nodes, voters, nonVoters)
	})
	return nodes
}

func checkMembership(nodes []rqlite.Node, voters, nonVoters []string) error {
	var gotV, gotNV []string
	leaders := 0
	for _, n := range nodes {
		if n.Voter {
			gotV = append(gotV, n.ID)
		} else {
			gotNV = append(gotNV, n.ID)
		}
		if !n.Reachable {
			return fmt.Errorf("%s unreachable: %s", n.ID, n.Error)
		}
		if n.Leader {
			leaders++
		}
		headless := "rqlite-headless"
		if !n.Voter {
			headless = "rqlite-readonly-headless"
		}
		if want := n.ID + "." + headless + ":4002"; n.Addr != want {
			return fmt.Errorf("%s has Raft address %q, want %q", n.ID, n.Addr, want)
		}
	}
	slices.Sort(gotV)
	slices.Sort(gotNV)
	want := slices.Sorted(slices.Values(voters))
	wantNV := slices.Sorted(slices.Values(nonVoters))
	if !slices.Equal(gotV, want) || !slices.Equal(gotNV, wantNV) {
		return fmt.Errorf("voters %v, non-voters %v; want %v and %v", gotV, gotNV, want, wantNV)
	}
	if leaders != 1 {
		return fmt.Errorf("%d leaders", leaders)
	}
	return nil
}

func (e *env) pod(name string) *corev1.Pod {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := cp.Client().CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// readyEndpoints lists the pod names the EndpointSlices of a Service mark ready, with their
// addresses.
func (e *env) readyEndpoints(ctx context.Context, service string) (map[string]string, error) {
	list, err := cp.Client().DiscoveryV1().EndpointSlices(e.ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || ep.TargetRef == nil {
				continue
			}
			out[ep.TargetRef.Name] = strings.Join(ep.Addresses, ",")
		}
	}
	return out, nil
}

// podIdentity is what a restart changes: the Pod's UID (the pod was replaced) and rqlited's pid
// (the container was restarted in place).
type podIdentity struct {
	uid types.UID
	pid int
}

// identities records the current incarnation and rqlited process of each pod.
func (e *env) identities(pods ...string) map[string]podIdentity {
	e.t.Helper()
	ids := make(map[string]podIdentity, len(pods))
	for _, p := range pods {
		pid := e.agent.ProcessPID(p, "rqlite")
		if pid == 0 {
			e.t.Fatalf("%s: rqlite is not running", p)
		}
		ids[p] = podIdentity{e.pod(p).UID, pid}
	}
	return ids
}

// checkNotRestarted reports every pod of ids that was replaced, whose rqlited was restarted, or
// one of whose containers has restarted at all.
func (e *env) checkNotRestarted(when string, ids map[string]podIdentity) {
	e.t.Helper()
	for p, id := range ids {
		pod := e.pod(p)
		if pod.UID != id.uid {
			e.t.Errorf("%s: pod %s was replaced (UID %s, was %s)", when, p, pod.UID, id.uid)
		}
		if pid := e.agent.ProcessPID(p, "rqlite"); pid != id.pid {
			e.t.Errorf("%s: rqlited of %s was restarted (pid %d, was %d)", when, p, pid, id.pid)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				e.t.Errorf("%s: %s/%s restarted %d times", when, p, cs.Name, cs.RestartCount)
			}
		}
	}
}
