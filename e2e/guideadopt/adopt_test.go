// Package guideadopt runs the first part of the README runbook "Moving off the
// kubernetes-configuration manifests" against a real kube-apiserver v1.37.1 with
// kube-controller-manager (internal/testenv): the guide's Services and StatefulSet (the fixtures
// under testdata/manifests/guide, written from the guide's facts) are created as `kubectl apply`
// creates them, then `rqlite-fn import-manifests` + render are dry-run and applied server-side in
// place, and the server and the StatefulSet controller judge it. There is no kubelet: Pods stay
// Pending and the test reports them ready, as in e2e/helmadopt, which is enough to see that the
// StatefulSet and its PVCs are kept and which Pods the controller replaces, one at a time.
package guideadopt

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/manifestimport"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

// `make golden` passes -update to every test binary; nothing here is a golden file.
var _ = flag.Bool("update", false, "accepted for `make golden`; this package has no golden files")

const (
	fieldManager = "rqlite-krm"
	// kubectlManager is the manager name of `kubectl apply` (client-side), as the guide applies.
	kubectlManager = "kubectl-client-side-apply"
	waitTimeout    = 90 * time.Second
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

type env struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	cp     *testenv.ControlPlane
	client kubernetes.Interface
}

func newEnv(t *testing.T, ns string) *env {
	cp := controlPlanes.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, ns: ns, cp: cp, client: cp.Client()}
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return e
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

func guideFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "manifests", "guide", name))
	require.NoError(t, err)
	return b
}

// pods are the StatefulSet's live Pods by name.
func (e *env) pods() map[string]corev1.Pod {
	list, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=rqlite"})
	require.NoError(e.t, err)
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

// markReady reports a Pod running and ready, as a kubelet would for a healthy node.
func (e *env) markReady(name string) {
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

// TestAdoptGuideManifestsInPlace: the render of the imported spec applies over the guide's
// objects with no immutable-field refusal, keeps the StatefulSet (same UID) and its PVCs, and
// replaces the Pods one at a time, highest ordinal first, while the others keep running.
func TestAdoptGuideManifestsInPlace(t *testing.T) {
	e := newEnv(t, "guide")
	// 1. The guide's objects, created as `kubectl apply -f service.yaml -f statefulset-3-node.yaml` does.
	var manifests [][]byte
	for _, f := range []string{"service.yaml", "statefulset-3-node.yaml"} {
		b := guideFile(t, f)
		manifests = append(manifests, b)
		objs, err := testenv.DecodeObjects(b)
		require.NoError(t, err)
		for _, o := range objs {
			j, err := o.MarshalJSON()
			require.NoError(t, err)
			switch o.GetKind() {
			case "Service":
				var s corev1.Service
				require.NoError(t, yaml.Unmarshal(j, &s))
				_, err = e.client.CoreV1().Services(e.ns).Create(e.ctx, &s, metav1.CreateOptions{FieldManager: kubectlManager})
			case "StatefulSet":
				var s appsv1.StatefulSet
				require.NoError(t, yaml.Unmarshal(j, &s))
				_, err = e.client.AppsV1().StatefulSets(e.ns).Create(e.ctx, &s, metav1.CreateOptions{FieldManager: kubectlManager})
			}
			require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
		}
	}
	e.eventually("the guide's 3 Pods", func() (bool, string) { n := len(e.pods()); return n == 3, fmt.Sprint(n) })
	before := e.pods()
	for name := range before {
		e.markReady(name)
	}
	sts, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
	require.NoError(t, err)
	pvcs := map[string]types.UID{}
	e.eventually("the guide's 3 PVCs", func() (bool, string) {
		list, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).List(e.ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, p := range list.Items {
			pvcs[p.Name] = p.UID
		}
		return len(pvcs) == 3, fmt.Sprint(pvcs)
	})
	for i := 0; i < 3; i++ {
		require.Contains(t, pvcs, fmt.Sprintf("rqlite-file-rqlite-%d", i))
	}

	// 2. rqlite-fn import-manifests, 3. rqlite-fn render.
	res, err := manifestimport.Import(manifestimport.Options{Namespace: e.ns}, manifests...)
	require.NoError(t, err)
	require.Empty(t, res.Report.Conflicts())
	gen := generate.FromYAML(res.YAML)
	require.False(t, gen.Problems.HasErrors(), "%v", gen.Problems)
	stream, err := render.EncodeAll(gen.Objects)
	require.NoError(t, err)

	// 4. Server-side dry-run, then 5. the apply, by the runbook's field manager.
	_, warnings, err := testenv.ServerSideDryRun(e.ctx, e.cp, e.ns, stream, fieldManager)
	require.NoError(t, err, "dry-run of the render over the guide's objects")
	assert.Empty(t, warnings)
	require.NoError(t, testenv.ServerSideApply(e.ctx, e.cp, e.ns, stream, fieldManager), "the render applies in place")

	after, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, sts.UID, after.UID, "the StatefulSet is updated in place")
	assert.Equal(t, sts.Spec.Selector, after.Spec.Selector)
	assert.Equal(t, sts.Spec.VolumeClaimTemplates[0].Name, after.Spec.VolumeClaimTemplates[0].Name)
	assert.Greater(t, after.Generation, sts.Generation, "the pod template changed")
	for _, svc := range []string{"rqlite-svc", "rqlite-svc-internal"} {
		s, err := e.client.CoreV1().Services(e.ns).Get(e.ctx, svc, metav1.GetOptions{})
		require.NoError(t, err)
		for _, p := range s.Spec.Ports {
			assert.Equal(t, p.Port, p.TargetPort.IntVal, "Service %s targets port %d by number, which the old Pods also serve", svc, p.Port)
		}
	}

	// 6. The controller replaces rqlite-2 first; rqlite-0 and rqlite-1 keep running meanwhile.
	e.eventually("rqlite-2 on the new revision", func() (bool, string) {
		p, ok := e.pods()["rqlite-2"]
		rev := p.Labels[appsv1.StatefulSetRevisionLabel]
		return ok && p.UID != before["rqlite-2"].UID, rev
	})
	now := e.pods()
	for _, n := range []string{"rqlite-0", "rqlite-1"} {
		assert.Equal(t, before[n].UID, now[n].UID, "%s keeps running while rqlite-2 is replaced", n)
	}
	p2 := now["rqlite-2"]
	assert.Equal(t, "voter", p2.Labels["app.kubernetes.io/component"], "the new Pod carries the render's labels")
	assert.Equal(t, "rqlite-svc-internal", p2.Spec.Subdomain, "the same DNS name, so the same Raft address")
	found := false
	for _, v := range p2.Spec.Volumes {
		if v.Name == "rqlite-file" && v.PersistentVolumeClaim != nil {
			found = v.PersistentVolumeClaim.ClaimName == "rqlite-file-rqlite-2"
		}
	}
	assert.True(t, found, "the new Pod mounts the guide's PVC rqlite-file-rqlite-2")
	list, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 3, "no new PVC")
	for _, p := range list.Items {
		assert.Equal(t, pvcs[p.Name], p.UID, "PVC %s kept", p.Name)
	}
}
