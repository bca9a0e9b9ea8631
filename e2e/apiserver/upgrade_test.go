package apiserver

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
)

// clusterSpec is the part of an RqliteSpec the upgrade steps change.
type clusterSpec struct {
	voters    int
	readOnly  int    // fixed read-only pool size; 0 = none
	autoscale [2]int // read-only pool min and max replicas; zero = not autoscaled
	recovery  bool
	image     string
	size      string
	class     string
	// whenDeleted is the claims' retention when the StatefulSet is deleted ("" = default, Retain).
	whenDeleted string
	noNetPol    bool
	noShrink    bool
}

func (s clusterSpec) yaml(ns string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: %s\nspec:\n", ns)
	if s.image != "" {
		fmt.Fprintf(&b, "  image: %s\n", s.image)
	}
	fmt.Fprintf(&b, "  voters:\n    replicas: %d\n", s.voters)
	switch {
	case s.autoscale != [2]int{}:
		fmt.Fprintf(&b, "  readOnly:\n    autoscaling:\n      minReplicas: %d\n      maxReplicas: %d\n", s.autoscale[0], s.autoscale[1])
	case s.readOnly > 0:
		fmt.Fprintf(&b, "  readOnly:\n    replicas: %d\n", s.readOnly)
	}
	if s.size != "" || s.class != "" || s.whenDeleted != "" {
		b.WriteString("  storage:\n")
		if s.size != "" {
			fmt.Fprintf(&b, "    size: %s\n", s.size)
		}
		if s.class != "" {
			fmt.Fprintf(&b, "    storageClassName: %s\n", s.class)
		}
		if s.whenDeleted != "" {
			fmt.Fprintf(&b, "    retentionPolicy:\n      whenDeleted: %s\n", s.whenDeleted)
		}
	}
	if s.recovery {
		b.WriteString("  recovery:\n    staticPeers: true\n")
	}
	if s.noNetPol {
		b.WriteString("  networkPolicy:\n    enabled: false\n")
	}
	if s.noShrink {
		b.WriteString("  shrink:\n    enabled: false\n")
	}
	return b.String()
}

// state is what the server holds after a step.
type state struct {
	m    manifest
	snap snapshot
	sts  map[string]*appsv1.StatefulSet  // settled: status describes the current spec
	revs map[string]int                  // ControllerRevisions per StatefulSet
	pods map[string]map[string]types.UID // per StatefulSet, its Pods' UIDs by name
	jobs map[string]types.UID            // Jobs by name
}

func (e *env) capture(m manifest) *state {
	e.t.Helper()
	s := &state{m: m, snap: e.snapshot(m), sts: map[string]*appsv1.StatefulSet{}, revs: map[string]int{}, pods: map[string]map[string]types.UID{}, jobs: map[string]types.UID{}}
	for _, o := range m.ofKind("StatefulSet") {
		sts := e.settled(o.GetName())
		s.sts[sts.Name] = sts
		s.revs[sts.Name] = e.revisions(sts)
		s.pods[sts.Name] = map[string]types.UID{}
		for _, p := range e.pods(sts.Spec.Selector.MatchLabels) {
			s.pods[sts.Name][p.Name] = p.UID
		}
	}
	for _, o := range m.ofKind("Job") {
		s.jobs[o.GetName()] = e.live(o).GetUID()
	}
	return s
}

// replicaLog records every value of spec.replicas each StatefulSet of a namespace takes, from a
// watch started before an apply: a transient value (a pool reset to the default of 1 and raised
// again) would be invisible to before/after reads.
type replicaLog struct {
	mu     sync.Mutex
	values map[string][]int32
	stop   func()
	done   chan struct{}
}

func (e *env) watchReplicas() *replicaLog {
	e.t.Helper()
	list, err := e.client.AppsV1().StatefulSets(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(e.t, err)
	w, err := e.client.AppsV1().StatefulSets(e.ns).Watch(e.ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	require.NoError(e.t, err)
	l := &replicaLog{values: map[string][]int32{}, stop: w.Stop, done: make(chan struct{})}
	for _, sts := range list.Items {
		l.record(sts.Name, sts.Spec.Replicas)
	}
	go func() {
		defer close(l.done)
		for ev := range w.ResultChan() {
			if sts, ok := ev.Object.(*appsv1.StatefulSet); ok && ev.Type != watch.Deleted {
				l.record(sts.Name, sts.Spec.Replicas)
			}
		}
	}()
	return l
}

func (l *replicaLog) record(name string, r *int32) {
	v := int32(-1) // absent
	if r != nil {
		v = *r
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if vs := l.values[name]; len(vs) == 0 || vs[len(vs)-1] != v {
		l.values[name] = append(vs, v)
	}
}

// current returns what the watch has seen so far.
func (l *replicaLog) current() map[string][]int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]int32{}
	for k, v := range l.values {
		out[k] = slices.Clone(v)
	}
	return out
}

// finish stops the watch and returns the distinct successive values per StatefulSet.
func (l *replicaLog) finish() map[string][]int32 {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.values
}

// upgradeStep is one change of the spec, applied onto what the previous steps left.
type upgradeStep struct {
	name string
	spec clusterSpec
	// rolls marks the one kind of change that must roll the pods (a new image): the pod template
	// and the controller revision change. Every other step must leave both alone.
	rolls bool
	// allowed lists, per object ("Kind/name") present before and after, the paths the step may
	// change; an object not listed must come out identical. nil means anything may change.
	allowed map[string][]string
	// transient marks a step whose StatefulSets may pass through replica counts other than
	// before and after, and so replace Pods (an autoscaler acting); every other step must go
	// straight there and keep every Pod that stays.
	transient bool
	// settle runs right after the apply, before anything is checked, with the watch of the
	// replica counts still running.
	settle func(e *env, m manifest, replicas *replicaLog)
	// check runs after the generic checks; it gets the replicas each StatefulSet went through.
	check func(e *env, prev, cur *state, replicas map[string][]int32)
}

const dependsOnPath = `.metadata.annotations["config.kubernetes.io/depends-on"]`

// TestUpgradeSequence applies a cluster's life, one spec change at a time, onto one namespace of
// a real API server with the controllers running, and pins down what each change does to the
// server's objects: scaling and toggles change counts, ConfigMap data and the PDB and nothing
// else (no pod template change, no new controller revision, no Pod replaced, no transient replica
// count); only an image bump rolls the pods; no step changes a StatefulSet's immutable fields;
// and a storage change, which would, is refused by the server.
func TestUpgradeSequence(t *testing.T) {
	const ns = "upgrade"
	e := newEnv(t, ns)
	voterScale := map[string][]string{
		"ConfigMap/rqlite-config":    {".data"},
		"StatefulSet/rqlite":         {".spec.replicas", dependsOnPath},
		"PodDisruptionBudget/rqlite": {".spec.maxUnavailable"},
	}
	jobUIDs := map[types.UID]string{}
	base := clusterSpec{voters: 3}
	ro2 := base
	ro2.readOnly = 2
	auto := base
	auto.autoscale = [2]int{2, 10}
	rec := base
	rec.recovery = true
	noNP := base
	noNP.noNetPol = true
	noShrink := base
	noShrink.noShrink = true
	bumped := base
	bumped.image = "docker.io/rqlite/rqlite:9.1.4"
	nine := base
	nine.voters = 9

	steps := []upgradeStep{
		{name: "create 3 voters", spec: base},
		{name: "scale voters 3 to 9", spec: nine, allowed: voterScale, check: func(e *env, prev, cur *state, _ map[string][]int32) {
			assertNewJob(e, prev, cur, jobUIDs)
		}},
		{name: "scale voters 9 to 3", spec: base, allowed: voterScale, check: func(e *env, prev, cur *state, _ map[string][]int32) {
			// The render for 3 carries the shrink Job for target 3 under a name the server has
			// not seen since it was pruned: a new Job, so the Job controller runs it.
			assertNewJob(e, prev, cur, jobUIDs)
			for i := 3; i < 9; i++ {
				_, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, fmt.Sprintf("data-rqlite-%d", i), metav1.GetOptions{})
				assert.NoError(e.t, err, "whenScaled: Retain keeps the removed voters' claims")
			}
		}},
		{name: "add a read-only pool of 2", spec: ro2, allowed: map[string][]string{"ConfigMap/rqlite-config": {".data.readonly-replicas"}}},
		{name: "switch the read-only pool to autoscaling", spec: auto, allowed: map[string][]string{
			"ConfigMap/rqlite-config":     {".data.readonly-replicas"},
			"StatefulSet/rqlite-readonly": {".spec.replicas"},
		}, transient: true, settle: settleAutoscalingSwitch},
		{name: "remove the read-only pool", spec: base, allowed: map[string][]string{"ConfigMap/rqlite-config": {".data.readonly-replicas"}}, check: func(e *env, prev, cur *state, _ map[string][]int32) {
			e.waitPods(prev.sts["rqlite-readonly"].Spec.Selector.MatchLabels, nil)
			for i := range 2 {
				_, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, fmt.Sprintf("data-rqlite-readonly-%d", i), metav1.GetOptions{})
				assert.NoError(e.t, err, "whenDeleted: Retain keeps the read-only pool's claims")
			}
		}},
		// While recovering, the render leaves the shrink Job and its RBAC out (README, "Recovery
		// from quorum loss"), so the voters lose kpt's depends-on annotation with it; the pods
		// see only the ConfigMap change.
		// bootstrap-expect goes one above the voter count meanwhile, so no set of nodes on empty
		// volumes can bootstrap a cluster of their own.
		{name: "recovery on", spec: rec, allowed: map[string][]string{
			"ConfigMap/rqlite-config": {".data.static-peers", ".data.bootstrap-expect"},
			"StatefulSet/rqlite":      {dependsOnPath},
		}, check: func(e *env, _, cur *state, _ map[string][]int32) {
			assert.Equal(e.t, "true", e.configData("rqlite-config")["static-peers"])
			assert.Equal(e.t, "4", e.configData("rqlite-config")["bootstrap-expect"], "3 voters recovering")
			assert.Empty(e.t, cur.m.ofKind("Job"), "a shrink Job is rendered during recovery")
		}},
		{name: "recovery off", spec: base, allowed: map[string][]string{
			"ConfigMap/rqlite-config": {".data.static-peers", ".data.bootstrap-expect"},
			"StatefulSet/rqlite":      {dependsOnPath},
		}, check: func(e *env, _, cur *state, _ map[string][]int32) {
			assert.Equal(e.t, "false", e.configData("rqlite-config")["static-peers"])
			assert.Equal(e.t, "3", e.configData("rqlite-config")["bootstrap-expect"])
			assert.Len(e.t, cur.m.ofKind("Job"), 1, "the shrink Job is back")
		}},
		{name: "network policy off", spec: noNP, allowed: map[string][]string{}},
		{name: "network policy on", spec: base, allowed: map[string][]string{}},
		{name: "shrink Job off", spec: noShrink, allowed: map[string][]string{"StatefulSet/rqlite": {dependsOnPath}}},
		{name: "shrink Job on", spec: base, allowed: map[string][]string{"StatefulSet/rqlite": {dependsOnPath}}},
		{name: "image bump", spec: bumped, rolls: true, check: checkImageBump},
	}

	first := map[string]*appsv1.StatefulSet{}
	var prev *state
	for i, step := range steps {
		ok := t.Run(fmt.Sprintf("%02d %s", i+1, step.name), func(t *testing.T) {
			e := e.withT(t)
			m := renderSpec(t, step.spec.yaml(ns))
			log := e.watchReplicas()
			e.apply(m)
			if prev != nil {
				if pruned := e.prune(prev.m, m); len(pruned) > 0 {
					t.Logf("pruned %v", pruned)
				}
			}
			if step.settle != nil {
				step.settle(e, m, log)
			}
			checkCluster(e, m)
			cur := e.capture(m)
			replicas := log.finish()
			for name, sts := range cur.sts {
				if f, ok := first[name]; ok {
					assertImmutableKept(t, f, sts)
				} else {
					first[name] = sts
				}
			}
			if prev != nil {
				checkStep(e, step, prev, cur, replicas)
			}
			if step.check != nil {
				step.check(e, prev, cur, replicas)
			}
			for name, uid := range cur.jobs {
				jobUIDs[uid] = name
			}
			prev = cur
		})
		if !ok {
			// Later steps build on this one; their failures would only repeat it.
			t.FailNow()
		}
	}

	t.Run("storage size change is refused", func(t *testing.T) {
		e := e.withT(t)
		bigger := bumped
		bigger.size = "20Gi"
		assertClaimTemplatesImmutable(e, renderSpec(t, bigger.yaml(ns)))
	})
	t.Run("storage class change is refused", func(t *testing.T) {
		e := e.withT(t)
		fast := bumped
		fast.class = "fast-ssd"
		assertClaimTemplatesImmutable(e, renderSpec(t, fast.yaml(ns)))
	})
}

// withT is the env for a subtest: failures and helpers report to the subtest.
func (e *env) withT(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) configData(name string) map[string]string {
	e.t.Helper()
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return cm.Data
}

// checkStep holds every step to the rules that do not depend on the change.
func checkStep(e *env, step upgradeStep, prev, cur *state, replicas map[string][]int32) {
	t := e.t
	t.Helper()
	if step.allowed != nil {
		for key, paths := range prev.snap.changes(cur.snap) {
			allowed, listed := step.allowed[key]
			for _, p := range paths {
				ok := listed && slices.ContainsFunc(allowed, func(prefix string) bool {
					return p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[")
				})
				assert.True(t, ok, "%s changed at %s", key, p)
			}
		}
	}
	for name, after := range cur.sts {
		before, ok := prev.sts[name]
		if !ok {
			continue
		}
		if step.rolls {
			assert.NotEqual(t, before.Spec.Template, after.Spec.Template, "StatefulSet %s: pod template unchanged by a step that must roll the pods", name)
			continue
		}
		assert.Equal(t, before.Spec.Template, after.Spec.Template, "StatefulSet %s: pod template changed", name)
		assert.Equal(t, before.Status.UpdateRevision, after.Status.UpdateRevision, "StatefulSet %s: new update revision", name)
		assert.Equal(t, prev.revs[name], cur.revs[name], "StatefulSet %s: ControllerRevisions", name)
		if step.transient {
			continue
		}
		for pod, uid := range cur.pods[name] {
			if old, ok := prev.pods[name][pod]; ok {
				assert.Equal(t, old, uid, "Pod %s was replaced", pod)
			}
		}
		want := []int32{ptrOr(before.Spec.Replicas), ptrOr(after.Spec.Replicas)}
		if want[0] == want[1] {
			want = want[:1]
		}
		assert.Equal(t, want, replicas[name], "StatefulSet %s: spec.replicas went through other values than before and after", name)
	}
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

// assertImmutableKept compares the fields the API server never lets change on a StatefulSet
// with what they were when it was created.
func assertImmutableKept(t *testing.T, first, cur *appsv1.StatefulSet) {
	t.Helper()
	assert.Equal(t, first.Spec.Selector, cur.Spec.Selector, "StatefulSet %s selector", cur.Name)
	assert.Equal(t, first.Spec.ServiceName, cur.Spec.ServiceName, "StatefulSet %s serviceName", cur.Name)
	assert.Equal(t, first.Spec.VolumeClaimTemplates, cur.Spec.VolumeClaimTemplates, "StatefulSet %s volumeClaimTemplates", cur.Name)
	assert.Equal(t, first.Spec.PodManagementPolicy, cur.Spec.PodManagementPolicy, "StatefulSet %s podManagementPolicy", cur.Name)
}

// assertNewJob checks that a change of voter count brings a shrink Job the server has not held
// before, and that the previous one is gone from the render.
func assertNewJob(e *env, prev, cur *state, seen map[types.UID]string) {
	t := e.t
	t.Helper()
	require.Len(t, cur.jobs, 1)
	for name, uid := range cur.jobs {
		_, inPrev := prev.jobs[name]
		assert.False(t, inPrev, "Job %s was already in the previous render", name)
		old, reused := seen[uid]
		assert.False(t, reused, "Job %s is the server object of an earlier step's Job %s", name, old)
	}
	for name := range prev.jobs {
		assert.Nil(t, cur.m.find("Job", name), "previous Job %s is still in the render", name)
		_, err := e.client.BatchV1().Jobs(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "previous Job %s was not pruned: %v", name, err)
	}
}

// settleAutoscalingSwitch covers a fixed read-only pool becoming autoscaled with the same field
// manager applying the render: the StatefulSet in the render no longer has spec.replicas, so the
// applier must give up its ownership of the field, or every later apply would take the HPA's
// decisions back.
func settleAutoscalingSwitch(e *env, m manifest, log *replicaLog) {
	t := e.t
	t.Helper()
	const name = "rqlite-readonly"
	require.NotNil(t, m.find("HorizontalPodAutoscaler", name), "the render has no HPA")
	_, hasReplicas, _ := unstructured.NestedFieldNoCopy(m.find("StatefulSet", name).Object, "spec", "replicas")
	require.False(t, hasReplicas, "the autoscaled StatefulSet still has spec.replicas in the render")

	sts := e.statefulSet(name)
	assert.False(t, ownsField(sts, fieldManager, "f:spec", "f:replicas"),
		"%s still owns spec.replicas after applying a render without it; owners: %v", fieldManager, replicasOwners(sts))

	// The real HPA controller raises the pool to minReplicas (no metrics needed for that).
	// Its write goes through the scale subresource; the API server records an owner for such
	// a write only when the field had one before, so after this switch nobody owns
	// spec.replicas, which is fine: no applier sends it any more.
	e.eventually("the HPA to set the pool to minReplicas", func() (bool, string) {
		s := e.statefulSet(name)
		return ptrOr(s.Spec.Replicas) == 2, fmt.Sprintf("replicas %d, owners %v", ptrOr(s.Spec.Replicas), replicasOwners(s))
	})
	// The field had no other owner, so server-side apply removed it and defaulting put back 1:
	// the pool lost a Pod until the HPA raised it to minReplicas again. This is documented
	// Kubernetes behaviour; docs/storage-migration.md describes the handover that avoids it
	// (TestAutoscalingHandoverKeepsThePool), and this assertion shows why it is needed.
	seen := log.current()[name]
	t.Logf("spec.replicas of %s during the switch: %v", name, seen)
	assert.Contains(t, seen, int32(1), "expected the documented reset to the default (1) when the sole owner drops spec.replicas")

	// Act as the HPA does, through the scale subresource, and re-apply the render: the count
	// must stay where the autoscaler put it.
	scaleAsHPA(e, name, 4)
	e.apply(m)
	after := e.statefulSet(name)
	assert.Equal(t, int32(4), ptrOr(after.Spec.Replicas), "re-applying the render reverted the autoscaler's replicas")
	assert.False(t, ownsField(after, fieldManager, "f:spec", "f:replicas"), "owners: %v", replicasOwners(after))
	t.Logf("owners of spec.replicas after the re-apply: %v", replicasOwners(after))
	e.waitPods(after.Spec.Selector.MatchLabels, ordinalNames(name, 4))
	// Back to minReplicas, where the generic checks of the step expect the pool.
	scaleAsHPA(e, name, 2)
	e.waitPods(after.Spec.Selector.MatchLabels, ordinalNames(name, 2))
}

const hpaStandIn = "hpa-stand-in"

// scaleAsHPA writes replicas the way the HorizontalPodAutoscaler controller does: an update of
// the scale subresource.
func scaleAsHPA(e *env, name string, n int32) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := e.client.AppsV1().StatefulSets(e.ns).GetScale(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		scale.Spec.Replicas = n
		_, err = e.client.AppsV1().StatefulSets(e.ns).UpdateScale(e.ctx, name, scale, metav1.UpdateOptions{FieldManager: hpaStandIn})
		return err
	})
	require.NoError(e.t, err)
}

// checkImageBump: the one change that must roll the pods does so. The template changed (checked
// generically); here the StatefulSet controller has a new revision and starts replacing Pods.
func checkImageBump(e *env, prev, cur *state, _ map[string][]int32) {
	t := e.t
	t.Helper()
	before, after := prev.sts["rqlite"], cur.sts["rqlite"]
	assert.NotEqual(t, before.Status.UpdateRevision, after.Status.UpdateRevision, "no new update revision")
	assert.Equal(t, prev.revs["rqlite"]+1, cur.revs["rqlite"], "ControllerRevisions")
	assert.Equal(t, "docker.io/rqlite/rqlite:9.1.4", after.Spec.Template.Spec.Containers[0].Image)
	e.eventually("a voter Pod of the new revision", func() (bool, string) {
		var revs []string
		for _, p := range e.pods(after.Spec.Selector.MatchLabels) {
			if p.Labels["controller-revision-hash"] == after.Status.UpdateRevision {
				return true, ""
			}
			revs = append(revs, p.Name+"="+p.Labels["controller-revision-hash"])
		}
		return false, fmt.Sprintf("want %s, have %v", after.Status.UpdateRevision, revs)
	})
}

// assertClaimTemplatesImmutable applies a render whose StatefulSet changes volumeClaimTemplates
// and checks that the server refuses exactly that object, with the message the storage runbook
// (docs/storage-migration.md) quotes, and leaves the live StatefulSet as it was.
//
// kube-apiserver v1.37 names the field ("spec.volumeClaimTemplates: Invalid value: ...: field is
// immutable"); releases before it answered "spec: Forbidden: updates to statefulset spec for
// fields other than 'replicas', ... are forbidden" for the same change.
func assertClaimTemplatesImmutable(e *env, m manifest) {
	t := e.t
	t.Helper()
	before := e.statefulSet("rqlite")
	warnings, err := e.applyWarnings(m)
	assert.Empty(t, warnings)
	require.Error(t, err, "the server accepted a change of volumeClaimTemplates")
	t.Logf("server: %v", err)
	assert.True(t, apierrors.IsInvalid(err), "want an Invalid (422) error, got %v", err)
	msg := err.Error()
	assert.Contains(t, msg, `apply apps/v1 StatefulSet upgrade/rqlite: StatefulSet.apps "rqlite" is invalid: spec.volumeClaimTemplates: Invalid value:`)
	assert.True(t, strings.HasSuffix(msg, ": field is immutable"), "message: %s", msg)
	assert.Equal(t, 1, strings.Count(msg, "apply "), "only the StatefulSet may be refused: %v", err)
	after := e.statefulSet("rqlite")
	assert.Equal(t, before.Spec.VolumeClaimTemplates, after.Spec.VolumeClaimTemplates)
	assert.Equal(t, before.Generation, after.Generation)
}
