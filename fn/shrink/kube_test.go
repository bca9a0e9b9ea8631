package shrink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/kube"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/shrink"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

const kubeNS = "shrink-kube"

// applyRendered renders a cluster spec and applies it. The controller manager's
// StatefulSet controller then creates the pods; with no scheduler or kubelet
// they stay Pending, and deleting an unscheduled pod removes it at once.
func applyRendered(t *testing.T, cp *testenv.ControlPlane, ns string, voters, readOnly int) {
	t.Helper()
	spec := fmt.Sprintf(`apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: %s
spec:
  voters:
    replicas: %d
  readOnly:
    replicas: %d
`, ns, voters, readOnly)
	res := generate.FromYAML([]byte(spec))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	manifests, err := render.EncodeAll(res.Objects)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, testenv.ServerSideApply(ctx, cp, ns, manifests, "rqlite-krm-test"))
}

func waitPodCount(t *testing.T, cp *testenv.ControlPlane, ns, selector string, n int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		pods, err := cp.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if assert.NoError(c, err) {
			assert.Len(c, pods.Items, n)
		}
	}, time.Minute, 100*time.Millisecond)
}

// TestKubeWorkloadOnRealAPIServer drives KubeWorkload against a real
// kube-apiserver and StatefulSet controller, as the rendered ServiceAccount.
func TestKubeWorkloadOnRealAPIServer(t *testing.T) {
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{ControllerManager: true})
	testenv.CreateRestrictedNamespace(t, cp, kubeNS)
	applyRendered(t, cp, kubeNS, 5, 1)
	voterSel := "app.kubernetes.io/instance=rqlite,app.kubernetes.io/component=voter"
	waitPodCount(t, cp, kubeNS, voterSel, 5)

	kc, err := kube.FromKubeconfig(cp.ServiceAccountKubeconfig(t, kubeNS, "rqlite-shrink"))
	require.NoError(t, err)
	w := &shrink.KubeWorkload{Client: kc, Namespace: kubeNS, StatefulSet: "rqlite", PollInterval: 50 * time.Millisecond}
	ctx := ctxFor(t, time.Minute)

	n, exists, err := w.Replicas(ctx)
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, 5, n)

	// rqlite-4 plays a pod whose containers have not stopped yet: a finalizer
	// keeps its object, terminating, as the kubelet would until it is done.
	pods := cp.Client().CoreV1().Pods(kubeNS)
	_, err = pods.Patch(ctx, "rqlite-4", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":["test.rqlite.io/kubelet"]}}`), metav1.PatchOptions{})
	require.NoError(t, err)

	require.NoError(t, w.SetReplicas(ctx, 3))
	n, _, err = w.Replicas(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = w.WaitPodsGone(short, []int{3, 4})
	cancel()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rqlite-4 (Pending, terminating)")
	assert.NotContains(t, err.Error(), "rqlite-3", "an unscheduled pod is deleted at once")

	_, err = pods.Patch(ctx, "rqlite-4", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.NoError(t, w.WaitPodsGone(ctx, []int{3, 4}))
	waitPodCount(t, cp, kubeNS, voterSel, 3)
	waitPodCount(t, cp, kubeNS, "app.kubernetes.io/instance=rqlite,app.kubernetes.io/component=readonly", 1)

	// The Role names one StatefulSet: any other is out of reach, and that is
	// not mistaken for "does not exist".
	_, _, err = (&shrink.KubeWorkload{Client: kc, Namespace: kubeNS, StatefulSet: "rqlite-readonly"}).Replicas(ctx)
	assert.True(t, kube.IsForbidden(err), "got %v", err)

	// A fresh install: the Job runs before the StatefulSet exists.
	require.NoError(t, cp.Client().AppsV1().StatefulSets(kubeNS).Delete(ctx, "rqlite", metav1.DeleteOptions{}))
	_, exists, err = w.Replicas(ctx)
	require.NoError(t, err)
	assert.False(t, exists)
}

// TestKubeWorkloadSuperseded: with the rendered Role (jobs: list), a Job learns that a newer shrink
// Job of the same cluster exists; Jobs of other clusters do not count.
func TestKubeWorkloadSuperseded(t *testing.T) {
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{})
	const ns = "shrink-superseded"
	testenv.CreateRestrictedNamespace(t, cp, ns)
	applyRendered(t, cp, ns, 3, 0)
	ctx := ctxFor(t, time.Minute)
	jobs := cp.Client().BatchV1().Jobs(ns)
	l, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=shrink"})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	own := l.Items[0]

	kc, err := kube.FromKubeconfig(cp.ServiceAccountKubeconfig(t, ns, "rqlite-shrink"))
	require.NoError(t, err)
	w := &shrink.KubeWorkload{Client: kc, Namespace: ns, StatefulSet: "rqlite", Job: own.Name}
	newer, err := w.Superseded(ctx)
	require.NoError(t, err)
	assert.Empty(t, newer, "alone, the Job is current")

	// A later change's Job, created at least a second later (creation times have second precision).
	time.Sleep(1100 * time.Millisecond)
	later := own.DeepCopy()
	later.ObjectMeta = metav1.ObjectMeta{Name: "rqlite-shrink-to-5-later", Labels: own.Labels}
	later.Spec.Selector = nil
	delete(later.Spec.Template.Labels, "batch.kubernetes.io/controller-uid")
	delete(later.Spec.Template.Labels, "controller-uid")
	delete(later.Spec.Template.Labels, "batch.kubernetes.io/job-name")
	delete(later.Spec.Template.Labels, "job-name")
	other := later.DeepCopy()
	other.Name = "other-shrink-to-1-x"
	other.Labels = map[string]string{"app.kubernetes.io/component": "shrink", "app.kubernetes.io/instance": "other"}
	_, err = jobs.Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)
	newer, err = w.Superseded(ctx)
	require.NoError(t, err)
	assert.Empty(t, newer, "another cluster's Job does not supersede this one")

	_, err = jobs.Create(ctx, later, metav1.CreateOptions{})
	require.NoError(t, err)
	newer, err = w.Superseded(ctx)
	require.NoError(t, err)
	assert.Equal(t, "rqlite-shrink-to-5-later", newer)
}
