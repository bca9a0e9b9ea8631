// Package helmadopt runs the migration runbook of docs/helm-migration.md against a real
// kube-apiserver v1.37.1 with kube-controller-manager (internal/testenv): a release of the rqlite
// Helm chart 2.0.0 is installed from the chart's render (as Helm 3 creates objects:
// field manager "helm", Update operations, its release annotations and release Secret), then
// `rqlite-fn import-helm` + render take it over step by step, and the server and the StatefulSet
// controller judge every step. There is no kubelet or scheduler: Pods are created and stay
// Pending, which is enough to see which Pods the controller keeps, adopts and replaces.
//
// The chart's render is built from internal/helmchart's facts (the objects, names, labels,
// selectors, claim templates and pod template fields the runbook depends on), which `make
// helm-reference` compares with a real `helm template`. A missing tool fails the run: `make tools`.
package helmadopt

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/helmimport"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// `make golden` runs `go test ./e2e/... -run Golden -update`; every test binary it reaches must
// accept the flag. Nothing here is a golden file.
var _ = flag.Bool("update", false, "accepted for `make golden`; this package has no golden files")

const (
	// fieldManager is the migration's applier, as in the runbook (kubectl apply --server-side
	// --field-manager=rqlite-krm).
	fieldManager = "rqlite-krm"
	// helmManager is the manager name Helm's writes carry.
	helmManager = "helm"
	release     = "rqlite"
	waitTimeout = 90 * time.Second
)

var controlPlanes = testenv.SharedControlPlane{
	Options: testenv.ControlPlaneOptions{ControllerManager: true, StartTimeout: 3 * time.Minute},
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	controlPlanes.Stop(code != 0)
	os.Exit(code)
}

func controlPlane(t *testing.T) *testenv.ControlPlane { return controlPlanes.Get(t) }

// env is one release's namespace. It is not "restricted": the chart's Pods would be refused
// there, and the point is to take over a release that runs.
type env struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	client kubernetes.Interface
	dyn    dynamic.Interface
}

var runs atomic.Int32

// newEnv creates a namespace named after prefix, unique per run: a deleted namespace lingers
// while its finalizers run, and `go test -count=N` reuses the control plane.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	cp := controlPlane(t)
	ns := fmt.Sprintf("%s-%d", prefix, runs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, ns: ns, client: cp.Client(), dyn: cp.Dynamic()}
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	e.eventually("the namespace's default ServiceAccount", func() (bool, string) {
		_, err := e.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return e
}

var resources = map[string]schema.GroupVersionResource{
	"StatefulSet":         {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"Service":             {Version: "v1", Resource: "services"},
	"ConfigMap":           {Version: "v1", Resource: "configmaps"},
	"Secret":              {Version: "v1", Resource: "secrets"},
	"ServiceAccount":      {Version: "v1", Resource: "serviceaccounts"},
	"PodDisruptionBudget": {Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	"NetworkPolicy":       {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	"Role":                {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":         {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"Job":                 {Group: "batch", Version: "v1", Resource: "jobs"},
	"Ingress":             {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
}

func (e *env) res(kind string) dynamic.ResourceInterface {
	gvr, ok := resources[kind]
	require.True(e.t, ok, "kind %s", kind)
	return e.dyn.Resource(gvr).Namespace(e.ns)
}

func (e *env) live(kind, name string) *unstructured.Unstructured {
	e.t.Helper()
	o, err := e.res(kind).Get(e.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(e.t, err)
	return o
}

func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s: %s", what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func decode(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.DecodeObjects(stream)
	require.NoError(t, err)
	return objs
}

// chartRender is the chart's render for a values case of internal/helmchart.
func chartRender(t *testing.T, name string) []byte {
	t.Helper()
	b, err := helmchart.Lookup(name).YAML()
	require.NoError(t, err)
	return b
}

// helmInstall creates the chart's objects the way `helm install` does: plain creates by the
// "helm" field manager, every object annotated with the release, and the release recorded in a
// Secret labelled owner=helm.
func (e *env) helmInstall(chartRender []byte, edit func(*unstructured.Unstructured)) []*unstructured.Unstructured {
	e.t.Helper()
	objs := decode(e.t, chartRender)
	for _, o := range objs {
		if edit != nil {
			edit(o)
		}
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann["meta.helm.sh/release-name"] = release
		ann["meta.helm.sh/release-namespace"] = e.ns
		o.SetAnnotations(ann)
		_, err := e.res(o.GetKind()).Create(e.ctx, o, metav1.CreateOptions{FieldManager: helmManager})
		require.NoError(e.t, err, "%s %s", o.GetKind(), o.GetName())
	}
	rel := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1." + release + ".v1", Labels: map[string]string{"owner": "helm", "name": release, "status": "deployed", "version": "1"}},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": []byte("opaque")},
	}
	_, err := e.client.CoreV1().Secrets(e.ns).Create(e.ctx, rel, metav1.CreateOptions{FieldManager: helmManager})
	require.NoError(e.t, err)
	return objs
}

// pods returns the Pods of a StatefulSet by name.
func (e *env) pods(sts *appsv1.StatefulSet) map[string]corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sts.Spec.Selector.MatchLabels).String()})
	require.NoError(e.t, err)
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

func (e *env) statefulSet(name string) *appsv1.StatefulSet {
	e.t.Helper()
	s, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return s
}

// waitRunning waits for a StatefulSet's n Pods and then reports them running and ready, as a
// kubelet would for the chart's healthy release: the StatefulSet controller's rolling update
// only waits for Pods it sees ready, so without this it would not show its one-at-a-time order.
func (e *env) waitRunning(name string, n int) map[string]corev1.Pod {
	e.t.Helper()
	var pods map[string]corev1.Pod
	e.eventually(fmt.Sprintf("%d Pods of %s", n, name), func() (bool, string) {
		pods = e.pods(e.statefulSet(name))
		return len(pods) == n, fmt.Sprintf("%d Pods", len(pods))
	})
	for name := range pods {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := e.client.CoreV1().Pods(e.ns).Get(e.ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			long := metav1.NewTime(time.Now().Add(-time.Hour))
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: long},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: long},
			}
			_, err = e.client.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
			return err
		})
		require.NoError(e.t, err, name)
	}
	return e.pods(e.statefulSet(name))
}

// importAndRender is steps 1 and 2 of the runbook: rqlite-fn import-helm, then rqlite-fn render.
func importAndRender(t *testing.T, ns, values string) ([]*unstructured.Unstructured, *helmimport.Result) {
	t.Helper()
	res, err := helmimport.Import(helmimport.Options{Release: release, Namespace: ns}, []byte(values))
	require.NoError(t, err)
	gen := generate.FromYAML(res.YAML)
	require.False(t, gen.Problems.HasErrors(), "%v", gen.Problems)
	out, err := render.EncodeAll(gen.Objects)
	require.NoError(t, err)
	return decode(t, out), res
}

// transferOwnership is the runbook's "hand Helm's fields to the new applier": every field the
// "helm" manager wrote becomes owned by fieldManager as if it had applied it, so its next apply
// removes whatever of the chart's its render no longer has. The runbook does it with
// kubectl get -o json | jq | kubectl replace; this is the same PUT.
func (e *env) transferOwnership(render []*unstructured.Unstructured) []string {
	e.t.Helper()
	var moved []string
	for _, o := range render {
		changed := false
		// A controller may write the object between the read and the write (a StatefulSet's
		// status); like kubectl replace, the write then conflicts and is simply redone.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			live := e.live(o.GetKind(), o.GetName())
			if live == nil {
				return nil
			}
			mf := live.GetManagedFields()
			changed = false
			for i := range mf {
				if mf[i].Manager == helmManager && mf[i].Subresource == "" {
					mf[i].Manager = fieldManager
					mf[i].Operation = metav1.ManagedFieldsOperationApply
					changed = true
				}
			}
			if !changed {
				return nil
			}
			live.SetManagedFields(mf)
			_, err := e.res(o.GetKind()).Update(e.ctx, live, metav1.UpdateOptions{})
			return err
		})
		require.NoError(e.t, err, "%s %s", o.GetKind(), o.GetName())
		if changed {
			moved = append(moved, o.GetKind()+"/"+o.GetName())
		}
	}
	return moved
}

// apply is `kubectl apply --server-side --force-conflicts --field-manager=rqlite-krm`, object by
// object, returning every refusal.
func (e *env) apply(objs []*unstructured.Unstructured, kinds ...string) error {
	e.t.Helper()
	var errs []error
	for _, o := range objs {
		if len(kinds) > 0 && !slices.Contains(kinds, o.GetKind()) {
			continue
		}
		_, err := e.res(o.GetKind()).Apply(e.ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// TestAdoptHelmRelease follows docs/helm-migration.md on a chart release with 3 voters and 3
// read-only nodes and checks every claim the runbook makes: the release's objects survive Helm
// forgetting them; the function's render takes over the Services, PDBs and NetworkPolicy in place
// (same UID, ClusterIP) without a trace of the chart's fields; the StatefulSets are recreated
// around the running Pods, which the new ones adopt with their PVCs and then replace one at a time.
func TestAdoptHelmRelease(t *testing.T) {
	e := newEnv(t, "adopt")
	ns := e.ns
	chartObjs := e.helmInstall(chartRender(t, "three-voters-readonly"), nil)

	stsNames := []string{"rqlite", "rqlite-readonly"}
	before := map[string]*appsv1.StatefulSet{}
	podsBefore := map[string]map[string]corev1.Pod{}
	for _, n := range stsNames {
		before[n] = e.statefulSet(n)
		podsBefore[n] = e.waitRunning(n, 3)
	}
	pvcs, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	pvcUIDs := map[string]types.UID{}
	for _, p := range pvcs.Items {
		pvcUIDs[p.Name] = p.UID
	}
	want := []string{}
	for _, sts := range stsNames {
		for i := range 3 {
			want = append(want, fmt.Sprintf("storage-%s-%d", sts, i))
		}
	}
	require.ElementsMatch(t, want, sortedKeys(pvcUIDs), "the chart's claims: storage-<pod>")
	svcsBefore := map[string]*corev1.Service{}
	for _, n := range []string{"rqlite", "rqlite-headless", "rqlite-readonly", "rqlite-headless-readonly"} {
		s, err := e.client.CoreV1().Services(ns).Get(e.ctx, n, metav1.GetOptions{})
		require.NoError(t, err)
		svcsBefore[n] = s
	}

	// 1–2: import the release's values and render.
	values := helmchart.Lookup("three-voters-readonly").Values
	ours, res := importAndRender(t, ns, values)
	assert.Empty(t, res.Report.Unsupported())

	// 3: Helm forgets the release; nothing of it is deleted.
	require.NoError(t, e.client.CoreV1().Secrets(ns).DeleteCollection(e.ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "owner=helm,name=" + release}))
	for _, o := range chartObjs {
		assert.NotNil(t, e.live(o.GetKind(), o.GetName()), "%s %s outlives the release record", o.GetKind(), o.GetName())
	}

	// 4: hand Helm's fields over.
	moved := e.transferOwnership(ours)
	assert.ElementsMatch(t, []string{
		"Service/rqlite", "Service/rqlite-headless", "Service/rqlite-readonly", "Service/rqlite-headless-readonly",
		"StatefulSet/rqlite", "StatefulSet/rqlite-readonly",
		"PodDisruptionBudget/rqlite", "PodDisruptionBudget/rqlite-readonly", "NetworkPolicy/rqlite",
	}, moved, "the objects the render adopts by name")

	// 5: apply the render. The StatefulSets are updated in place: names, selectors, serviceName and
	// volumeClaimTemplates (immutable) are the chart's.
	require.NoError(t, e.apply(ours), "the API server accepts the whole render")

	for name, old := range svcsBefore {
		now, err := e.client.CoreV1().Services(ns).Get(e.ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, old.UID, now.UID, "Service %s adopted in place", name)
		assert.Equal(t, old.Spec.ClusterIP, now.Spec.ClusterIP, "Service %s keeps its ClusterIP", name)
		assert.NotContains(t, now.Labels, "helm.sh/chart", "Service %s: Helm's labels went with Helm's ownership", name)
		assert.NotContains(t, now.Annotations, "meta.helm.sh/release-name", name)
		assert.Equal(t, "rqlite-krm", now.Labels["app.kubernetes.io/managed-by"], name)
	}
	for _, n := range []string{"rqlite", "rqlite-readonly"} {
		pdb, err := e.client.PolicyV1().PodDisruptionBudgets(ns).Get(e.ctx, n, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotContains(t, pdb.Labels, "helm.sh/chart", n)
	}

	for _, n := range stsNames {
		sts := e.statefulSet(n)
		assert.Equal(t, before[n].UID, sts.UID, "%s is adopted in place", n)
		assert.Equal(t, before[n].Spec.Selector, sts.Spec.Selector)
		assert.Equal(t, before[n].Spec.ServiceName, sts.Spec.ServiceName)
		assert.Equal(t, "storage", sts.Spec.VolumeClaimTemplates[0].Name)
		tmpl, err := json.Marshal(sts.Spec.Template)
		require.NoError(t, err)
		for _, leftover := range []string{"rqlite-peers", "RQLITE_USE_STATIC_PEERS", "docker-entrypoint", "kubernetes.io/arch"} {
			assert.NotContains(t, string(tmpl), leftover, "%s: nothing of the chart's pod template remains", n)
		}

		// The new StatefulSet adopts the orphans, then replaces them one at a time: the Pod
		// with the highest ordinal first, and no other until that one is ready (it never is
		// here: nothing stands in for the kubelet any more).
		last := fmt.Sprintf("%s-2", n)
		e.eventually(n+" replacing its last Pod", func() (bool, string) {
			pods := e.pods(sts)
			p, ok := pods[last]
			if !ok {
				return false, last + " deleted, not yet recreated"
			}
			return p.UID != podsBefore[n][last].UID, "still the chart's " + last
		})
		time.Sleep(3 * time.Second) // give the controller the chance to do more than it should
		pods := e.pods(sts)
		for i := range 2 {
			name := fmt.Sprintf("%s-%d", n, i)
			p := pods[name]
			assert.Equal(t, podsBefore[n][name].UID, p.UID, "%s is not touched while %s is not ready", name, last)
			owner := metav1.GetControllerOf(&p)
			if assert.NotNil(t, owner, "%s adopted", name) {
				assert.Equal(t, sts.UID, owner.UID, "%s is owned by the new StatefulSet", name)
			}
		}
		replaced := pods[last]
		var claim string
		for _, v := range replaced.Spec.Volumes {
			if v.Name == "storage" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		assert.Equal(t, "storage-"+last, claim, "the replaced Pod mounts the chart's claim")
	}
	after, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	afterUIDs := map[string]types.UID{}
	for _, p := range after.Items {
		afterUIDs[p.Name] = p.UID
	}
	assert.Equal(t, pvcUIDs, afterUIDs, "the same PVCs, no new ones")

	// 7: clean up what only the chart used; nothing the render applied refers to it.
	stream, err := json.Marshal(ours)
	require.NoError(t, err)
	for _, leftover := range []string{"rqlite-peers", "rqlite-internal", `"secretName":"rqlite"`} {
		assert.NotContains(t, string(stream), leftover)
	}
	for _, o := range chartObjs {
		if slices.Contains([]string{"Secret", "ConfigMap"}, o.GetKind()) {
			require.NoError(t, e.res(o.GetKind()).Delete(e.ctx, o.GetName(), metav1.DeleteOptions{}))
		}
	}
}

// TestForceApplyAloneKeepsHelmsFields is why the runbook transfers ownership first: server-side
// apply only removes fields its own manager owned, so on objects Helm wrote it merges the render
// into the chart's: labels stay, and a pod template gets two preStop handlers, which the server
// refuses.
func TestForceApplyAloneKeepsHelmsFields(t *testing.T) {
	e := newEnv(t, "force-only")
	ns := e.ns
	e.helmInstall(chartRender(t, "three-voters"), nil)
	ours, _ := importAndRender(t, ns, helmchart.Lookup("three-voters").Values)
	err := e.apply(ours)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "preStop")
	svc, err := e.client.CoreV1().Services(ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "rqlite-2.0.0", svc.Labels["helm.sh/chart"], "Helm's label survives a forced apply")
}

// TestAdoptedNodePortIsKept checks the import report's claim about service.nodePort: the spec
// cannot pin it, and the adopted Service keeps the port the chart allocated.
func TestAdoptedNodePortIsKept(t *testing.T) {
	e := newEnv(t, "nodeport")
	ns := e.ns
	// The chart's render for service.type NodePort, service.nodePort 31004: the 3-voter
	// render with the client Service changed as the chart's template changes it.
	e.helmInstall(chartRender(t, "three-voters"), func(o *unstructured.Unstructured) {
		if o.GetKind() != "Service" || o.GetName() != "rqlite" {
			return
		}
		require.NoError(t, unstructured.SetNestedField(o.Object, "NodePort", "spec", "type"))
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		ports[0].(map[string]any)["nodePort"] = int64(31004)
		require.NoError(t, unstructured.SetNestedSlice(o.Object, ports, "spec", "ports"))
	})
	ours, res := importAndRender(t, ns, "replicaCount: 3\nservice: {type: NodePort, nodePort: 31004}\n")
	entry, _ := res.Report.Entry("service.nodePort")
	assert.Equal(t, helmimport.Unsupported, entry.Status)
	e.transferOwnership(ours)
	require.NoError(t, e.apply(ours, "Service"))
	svc, err := e.client.CoreV1().Services(ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	assert.Equal(t, int32(31004), svc.Spec.Ports[0].NodePort)
	assert.True(t, strings.Contains(entry.Reason, "keeps it"))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
