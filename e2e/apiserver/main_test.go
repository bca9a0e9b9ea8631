// Package apiserver applies every render of rqlite-krm to a real kube-apiserver v1.37.1 with
// kube-controller-manager running (internal/testenv): the server's validation, defaulting,
// immutability rules and Pod Security admission judge the manifests, and the StatefulSet, Job,
// HPA and garbage-collection controllers act on them. Every render is also dry-run against
// kube-apiserver v1.30.14, the oldest supported minor (oldest_test.go). There is no scheduler or kubelet, so Pods
// are created and admitted and then stay Pending; that is enough to prove that they would be
// allowed to run and what they would run with.
//
// One control plane serves the whole package (it starts on first use, so `go test -run X` for a
// test that needs none costs nothing); every test works in its own namespace labelled
// pod-security.kubernetes.io/enforce=restricted. A missing tool fails the run: `make tools`.
package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/crds"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// Golden files elsewhere are rewritten with `go test <packages> -run Golden -update`; accepting the
// flag keeps such a run over ./... or ./e2e/... from failing here. There are no golden files here.
var _ = flag.Bool("update", false, "accepted and ignored: this package has no golden files")

// fieldManager is the one applier of every render, as a GitOps tool would be: ownership
// questions (who owns spec.replicas once the HPA takes over) depend on it staying the same.
const fieldManager = "rqlite-krm-e2e"

// waitTimeout bounds every wait for a controller. Controllers react within a second or two on an
// idle control plane; the margin is for a busy 2-core CI machine running other packages too.
const waitTimeout = 90 * time.Second

var (
	controlPlanes = testenv.SharedControlPlane{
		Name: "e2e/apiserver",
		Options: testenv.ControlPlaneOptions{
			ControllerManager: true,
			// The HPA controller handles each autoscaler once per sync period (15 s by
			// default), the first time included; the tests wait for it several times.
			ExtraControllerManagerArgs: []string{"--horizontal-pod-autoscaler-sync-period=2s"},
			StartTimeout:               3 * time.Minute,
		},
	}
	mapperOnce sync.Once
	mapper     meta.ResettableRESTMapper
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	controlPlanes.Stop(code != 0)
	os.Exit(code)
}

// controlPlane returns the package's control plane, starting it on first use.
func controlPlane(t *testing.T) *testenv.ControlPlane {
	t.Helper()
	cp := controlPlanes.Get(t)
	mapperOnce.Do(func() {
		mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cp.Client().Discovery()))
	})
	return cp
}

// env is one test's view of the control plane: its namespace and clients.
type env struct {
	t      *testing.T
	cp     *testenv.ControlPlane
	ns     string
	client kubernetes.Interface
	dyn    dynamic.Interface
	ctx    context.Context
}

// newEnv creates the restricted namespace ns for the test.
func newEnv(t *testing.T, ns string) *env {
	t.Helper()
	cp := controlPlane(t)
	testenv.CreateRestrictedNamespace(t, cp, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, cp: cp, ns: ns, client: cp.Client(), dyn: cp.Dynamic(), ctx: ctx}
}

// repoFile reads a file of the repository at test time, so the tests follow the golden files.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), rel))
	require.NoError(t, err)
	return b
}

// manifest is a rendered stream, object by object, in apply order.
type manifest []*unstructured.Unstructured

func parseManifest(t *testing.T, stream []byte) manifest {
	t.Helper()
	objs, err := testenv.DecodeObjects(stream)
	require.NoError(t, err)
	return manifest(objs)
}

// renderSpec runs the function's own pipeline (decode, default, validate, render, encode) on a
// spec, exactly as `rqlite-fn render` does.
func renderSpec(t *testing.T, spec string) manifest {
	t.Helper()
	res := generate.FromYAML([]byte(spec))
	require.False(t, res.Problems.HasErrors(), "spec rejected: %v\n%s", res.Problems, spec)
	out, err := render.EncodeAll(res.Objects)
	require.NoError(t, err)
	return parseManifest(t, out)
}

func (m manifest) bytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range m {
		y, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

func (m manifest) ofKind(kind string) manifest {
	var out manifest
	for _, o := range m {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m manifest) find(kind, name string) *unstructured.Unstructured {
	for _, o := range m {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// namespace is the one namespace the render names ("" for none); a render that mixes
// namespaces fails the test, since a cluster is always one namespace.
func (m manifest) namespace(t *testing.T) string {
	t.Helper()
	nss := map[string]bool{}
	for _, o := range m {
		nss[o.GetNamespace()] = true
	}
	require.Len(t, nss, 1, "a render spans several namespaces: %v", nss)
	for ns := range nss {
		return ns
	}
	return ""
}

// inNamespace moves a render to another namespace the way kustomize's namespace transformer
// would: every object's metadata.namespace, the RoleBinding subjects that pointed at the old
// namespace (a render without a namespace names "default" there) and kpt's depends-on
// references. Several golden files share a namespace name; this lets them run side by side.
func (m manifest) inNamespace(t *testing.T, to string) manifest {
	t.Helper()
	from := m.namespace(t)
	if from != "" {
		// Names qualified with the namespace (certificate DNS names, addresses) cannot be
		// rewritten safely; such a render must be applied into its own namespace.
		require.NotContains(t, string(m.bytes(t)), "."+from+".svc", "the render spells out its namespace in DNS names; apply it into %s", from)
	}
	subjectFrom := from
	if subjectFrom == "" {
		subjectFrom = metav1.NamespaceDefault
	}
	out := make(manifest, len(m))
	for i, o := range m {
		o = o.DeepCopy()
		o.SetNamespace(to)
		if o.GetKind() == "RoleBinding" {
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			for _, s := range subjects {
				if sm, ok := s.(map[string]any); ok && sm["namespace"] == subjectFrom {
					sm["namespace"] = to
				}
			}
			require.NoError(t, unstructured.SetNestedSlice(o.Object, subjects, "subjects"))
		}
		if ann := o.GetAnnotations(); ann[kptDependsOn] != "" && from != "" {
			ann[kptDependsOn] = strings.ReplaceAll(ann[kptDependsOn], "/namespaces/"+from+"/", "/namespaces/"+to+"/")
			o.SetAnnotations(ann)
		}
		out[i] = o
	}
	return out
}

const kptDependsOn = "config.kubernetes.io/depends-on"

// apply server-side applies the manifest into the env's namespace and requires that the server
// accepts every object without a single warning: Pod Security admission reports a workload whose
// Pods it would refuse only as a warning on the workload, so a warning is a failure here.
func (e *env) apply(m manifest) {
	e.t.Helper()
	warnings, err := e.applyWarnings(m)
	require.NoError(e.t, err, "the API server rejected part of the render")
	require.Empty(e.t, warnings, "the API server warned about the render")
}

// applyWarnings applies every object (even after one fails) and returns the server's warnings
// and the errors of the objects it rejected.
func (e *env) applyWarnings(m manifest) ([]string, error) {
	e.t.Helper()
	return testenv.ServerSideApplyWarnings(e.ctx, e.cp, e.ns, m.bytes(e.t), fieldManager)
}

func (e *env) resource(o *unstructured.Unstructured) dynamic.ResourceInterface {
	e.t.Helper()
	gvk := o.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) { // a kind from a CRD installed since the last discovery
		mapper.Reset()
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	require.NoError(e.t, err)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return e.dyn.Resource(mapping.Resource).Namespace(e.ns)
	}
	return e.dyn.Resource(mapping.Resource)
}

// live returns the server's copy of a rendered object, or nil if there is none.
func (e *env) live(o *unstructured.Unstructured) *unstructured.Unstructured {
	e.t.Helper()
	got, err := e.resource(o).Get(e.ctx, o.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(e.t, err)
	return got
}

// prune deletes what the previous render had and the next one has not, as kpt live apply,
// Argo CD (prune) or kubectl apply --prune do; server-side apply alone never deletes. Deletion
// is in the background, so dependents (a Job's Pod, a StatefulSet's Pods) go too.
func (e *env) prune(prev, next manifest) []string {
	e.t.Helper()
	var pruned []string
	bg := metav1.DeletePropagationBackground
	for _, o := range prev {
		if next.find(o.GetKind(), o.GetName()) != nil {
			continue
		}
		err := e.resource(o).Delete(e.ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
		if !apierrors.IsNotFound(err) {
			require.NoError(e.t, err)
		}
		pruned = append(pruned, o.GetKind()+"/"+o.GetName())
	}
	return pruned
}

// eventually polls cond until it holds, failing the test with what it last said otherwise.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s: %s", waitTimeout, what, last)
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("%s: %v (last: %s)", what, e.ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *env) statefulSet(name string) *appsv1.StatefulSet {
	e.t.Helper()
	sts, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return sts
}

// settled returns a StatefulSet once its controller has seen its latest spec, so that
// status.updateRevision describes that spec.
func (e *env) settled(name string) *appsv1.StatefulSet {
	e.t.Helper()
	var sts *appsv1.StatefulSet
	e.eventually("StatefulSet "+name+" observed by its controller", func() (bool, string) {
		sts = e.statefulSet(name)
		return sts.Status.ObservedGeneration >= sts.Generation && sts.Status.UpdateRevision != "",
			fmt.Sprintf("generation %d, observed %d, updateRevision %q", sts.Generation, sts.Status.ObservedGeneration, sts.Status.UpdateRevision)
	})
	return sts
}

// revisions counts the ControllerRevisions a StatefulSet owns.
func (e *env) revisions(sts *appsv1.StatefulSet) int {
	e.t.Helper()
	list, err := e.client.AppsV1().ControllerRevisions(e.ns).List(e.ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(sts.Spec.Selector.MatchLabels).String(),
	})
	require.NoError(e.t, err)
	n := 0
	for _, r := range list.Items {
		if owner := metav1.GetControllerOf(&r); owner != nil && owner.UID == sts.UID {
			n++
		}
	}
	return n
}

func (e *env) pods(selector map[string]string) []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(selector).String(),
	})
	require.NoError(e.t, err)
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// waitPods waits until the Pods matching selector are exactly the named ones and returns them.
func (e *env) waitPods(selector map[string]string, want []string) map[string]corev1.Pod {
	e.t.Helper()
	want = slices.Sorted(slices.Values(want))
	var got []corev1.Pod
	e.eventually(fmt.Sprintf("Pods %v", want), func() (bool, string) {
		got = e.pods(selector)
		names := podNames(got)
		refusals := e.failedCreates()
		for _, r := range refusals {
			// A Pod Security refusal is final: the controller retries with the same template.
			if strings.Contains(r, "violates PodSecurity") {
				e.t.Fatalf("Pod Security admission refuses the Pods: %s", r)
			}
		}
		return slices.Equal(names, want), fmt.Sprintf("have %v; FailedCreate events: %q", names, refusals)
	})
	out := map[string]corev1.Pod{}
	for _, p := range got {
		out[p.Name] = p
	}
	return out
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return slices.Sorted(slices.Values(names))
}

func ordinalNames(sts string, n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("%s-%d", sts, i))
	}
	return names
}

// failedCreates lists the controllers' FailedCreate events in the namespace: how a Pod refused
// by admission (Pod Security, a missing PriorityClass, ...) shows up.
func (e *env) failedCreates() []string {
	e.t.Helper()
	events, err := e.client.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	require.NoError(e.t, err)
	var out []string
	for _, ev := range events.Items {
		out = append(out, fmt.Sprintf("%s %s: %s", ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Message))
	}
	return out
}

// snapshot is the server's copy of every object of a render, minus what the server or the
// controllers change on their own (status, resourceVersion, managedFields, generation), so two
// snapshots differ exactly where an apply changed an object.
type snapshot map[string]map[string]any

func (e *env) snapshot(m manifest) snapshot {
	e.t.Helper()
	s := snapshot{}
	for _, o := range m {
		live := e.live(o)
		require.NotNil(e.t, live, "%s %s is not on the server", o.GetKind(), o.GetName())
		obj := live.DeepCopy().Object
		delete(obj, "status")
		md, _ := obj["metadata"].(map[string]any)
		for _, k := range []string{"resourceVersion", "managedFields", "generation"} {
			delete(md, k)
		}
		s[o.GetKind()+"/"+o.GetName()] = obj
	}
	return s
}

// changes lists, per object present in both snapshots, the paths where they differ.
func (s snapshot) changes(after snapshot) map[string][]string {
	out := map[string][]string{}
	for key, a := range s {
		b, ok := after[key]
		if !ok {
			continue
		}
		var paths []string
		diffPaths("", a, b, &paths)
		if len(paths) > 0 {
			out[key] = paths
		}
	}
	return out
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath is the path of a map key: .key, or ["key"] when the key has dots or slashes, as label
// and annotation keys do.
func keyPath(path, k string) string {
	if !plainKey.MatchString(k) {
		return fmt.Sprintf("%s[%q]", path, k)
	}
	return path + "." + k
}

// diffPaths collects the paths of the leaves where a and b differ: map keys as .key (or ["key"]
// when the key has dots or slashes, as label and annotation keys do), list items as [i].
func diffPaths(path string, a, b any, out *[]string) { comparePaths(path, a, b, false, out) }

// droppedPaths collects the paths of what a server's answer lacks of a rendered object: missing
// keys, lists of another length, other values. What the server adds (defaults, status, metadata
// it owns) does not count.
func droppedPaths(path string, rendered, answer any, out *[]string) {
	comparePaths(path, rendered, answer, true, out)
}

// comparePaths walks a and b side by side; with onlyA, keys that only b has are not compared.
func comparePaths(path string, a, b any, onlyA bool, out *[]string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, path)
			return
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = keys[k] || !onlyA
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if keys[k] {
				comparePaths(keyPath(path, k), av[k], bv[k], onlyA, out)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			*out = append(*out, path)
			return
		}
		for i := range av {
			comparePaths(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], onlyA, out)
		}
	default:
		aj, _ := json.Marshal(a)
		bj, _ := json.Marshal(b)
		if !bytes.Equal(aj, bj) {
			*out = append(*out, path)
		}
	}
}

// typed converts a server object into its API type.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v))
	return &v
}

// ownsField reports whether a field manager owns a field (a fieldsV1 path such as
// ["f:spec", "f:replicas"]) of an object, in any of its managedFields entries.
func ownsField(obj metav1.Object, manager string, path ...string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		cur := fields
		found := true
		for _, p := range path {
			next, ok := cur[p].(map[string]any)
			if !ok {
				found = false
				break
			}
			cur = next
		}
		if found {
			return true
		}
	}
	return false
}

// replicasOwners lists the managers that own a StatefulSet's spec.replicas, with the
// subresource they wrote it through.
func replicasOwners(obj metav1.Object) []string {
	var out []string
	for _, mf := range obj.GetManagedFields() {
		if ownsField(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{mf}}, mf.Manager, "f:spec", "f:replicas") {
			owner := mf.Manager
			if mf.Subresource != "" {
				owner += " (" + mf.Subresource + ")"
			}
			out = append(out, owner)
		}
	}
	return out
}

var (
	crdMu sync.Mutex
	// crdInstalled records, per control plane, the group versions installed on it.
	crdInstalled = map[*testenv.ControlPlane]map[string]bool{}
)

// ensureCRDs installs the CustomResourceDefinitions of the other projects whose groups a render
// uses (cert-manager, the Prometheus operator), their own files from their pinned modules
// (internal/crds), and waits until the server serves them. A group no project here defines fails
// the test with the server's "no matches for kind" on apply.
func ensureCRDs(e *env, m manifest) {
	e.t.Helper()
	crdMu.Lock()
	defer crdMu.Unlock()
	if crdInstalled[e.cp] == nil {
		crdInstalled[e.cp] = map[string]bool{}
	}
	installed := crdInstalled[e.cp]
	for _, o := range m {
		gv := o.GroupVersionKind().GroupVersion()
		if _, ok := crds.For(gv.Group); !ok || installed[gv.String()] {
			continue
		}
		stream, err := crds.Stream(gv.Group)
		require.NoError(e.t, err)
		require.NoError(e.t, testenv.ServerSideApply(e.ctx, e.cp, "", stream, fieldManager), "install the CRDs of %s", gv.Group)
		e.eventually(gv.String()+" served", func() (bool, string) {
			_, err := e.client.Discovery().ServerResourcesForGroupVersion(gv.String())
			return err == nil, fmt.Sprint(err)
		})
		if mapper != nil {
			mapper.Reset()
		}
		installed[gv.String()] = true
	}
}
