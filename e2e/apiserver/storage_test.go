package apiserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// TestStorageExpansionByOrphanDelete runs the storage-size runbook of docs/storage-migration.md
// on the API server: volumeClaimTemplates cannot change, so the claims are expanded one by one,
// the StatefulSet is deleted with --cascade=orphan and the new render is applied. The Pods must
// survive untouched (same UIDs, adopted by the new StatefulSet, no rollout) and the new
// StatefulSet must create claims of the new size for Pods added later.
//
// The spec asks for whenDeleted: Delete, the setting under which the StatefulSet owns its claims:
// even then the orphan delete must leave every claim in place.
//
// Claim expansion needs bound claims of a StorageClass that allows it. There is no provisioner
// here, so the test creates the class and pre-bound PersistentVolumes and lets the PV
// controller bind them; the actual resize of a volume is the storage driver's job and is out of
// reach (status.capacity stays at the old size).
func TestStorageExpansionByOrphanDelete(t *testing.T) {
	const ns = "storage-expand"
	e := newEnv(t, ns)
	class := "rqlite-e2e-expandable"
	createExpandableClass(e, class)
	for i := range 3 {
		createBoundVolume(e, class, fmt.Sprintf("data-rqlite-%d", i), "10Gi")
	}

	spec := clusterSpec{voters: 3, class: class, size: "10Gi", whenDeleted: "Delete"}
	e.apply(renderSpec(t, spec.yaml(ns)))
	pods := e.waitPods(e.statefulSet("rqlite").Spec.Selector.MatchLabels, ordinalNames("rqlite", 3))
	for i := range 3 {
		e.waitClaimBound(fmt.Sprintf("data-rqlite-%d", i))
	}
	old := e.settled("rqlite")
	uids := map[string]types.UID{}
	for name, p := range pods {
		uids[name] = p.UID
	}
	claims := e.claimUIDs(old.Spec.Selector.MatchLabels)
	require.Len(t, claims, 3)
	e.eventually("the StatefulSet to own its claims (whenDeleted: Delete)", func() (bool, string) {
		for _, pvc := range e.claims(old.Spec.Selector.MatchLabels) {
			if !ownedBy(pvc.OwnerReferences, old.UID) {
				return false, pvc.Name + " has no owner reference to the StatefulSet"
			}
		}
		return true, ""
	})

	bigger := spec
	bigger.size = "20Gi"
	next := renderSpec(t, bigger.yaml(ns))
	_, err := e.applyWarnings(next)
	require.Error(t, err, "the server accepted a new claim size on the live StatefulSet")
	assert.Contains(t, err.Error(), "spec.volumeClaimTemplates: Invalid value:")
	assert.Contains(t, err.Error(), "field is immutable")

	// Runbook step 1: expand every existing claim.
	for i := range 3 {
		name := fmt.Sprintf("data-rqlite-%d", i)
		patch := []byte(`{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}`)
		pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Patch(e.ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(t, err, "expand %s", name)
		assert.Equal(t, "20Gi", pvc.Spec.Resources.Requests.Storage().String())
	}

	// Runbook step 2: kubectl delete statefulset rqlite --cascade=orphan.
	orphan := metav1.DeletePropagationOrphan
	require.NoError(t, e.client.AppsV1().StatefulSets(ns).Delete(e.ctx, "rqlite", metav1.DeleteOptions{PropagationPolicy: &orphan}))
	e.eventually("the StatefulSet to be gone", func() (bool, string) {
		_, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	e.eventually("the Pods to be orphaned", func() (bool, string) {
		for _, p := range e.pods(old.Spec.Selector.MatchLabels) {
			if metav1.GetControllerOf(&p) != nil {
				return false, p.Name + " still has a controller"
			}
		}
		return true, ""
	})
	assert.Equal(t, uids, podUIDs(e.pods(old.Spec.Selector.MatchLabels)), "deleting with --cascade=orphan touched the Pods")
	assert.Equal(t, claims, e.claimUIDs(old.Spec.Selector.MatchLabels), "deleting with --cascade=orphan touched the claims")

	// Runbook step 3: apply the new render; the new StatefulSet adopts the running Pods.
	e.apply(next)
	sts := e.settled("rqlite")
	assert.NotEqual(t, old.UID, sts.UID)
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	assert.Equal(t, "20Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
	e.eventually("the new StatefulSet to adopt the Pods", func() (bool, string) {
		for _, p := range e.pods(sts.Spec.Selector.MatchLabels) {
			if owner := metav1.GetControllerOf(&p); owner == nil || owner.UID != sts.UID {
				return false, p.Name + " not adopted yet"
			}
		}
		return true, ""
	})
	// Same template, so the adopted revision is the update revision and nothing rolls; give the
	// controller time to act if it wanted to.
	assert.Equal(t, old.Status.UpdateRevision, sts.Status.UpdateRevision)
	time.Sleep(3 * time.Second)
	assert.Equal(t, uids, podUIDs(e.pods(sts.Spec.Selector.MatchLabels)), "re-applying after the orphan delete replaced Pods")
	assert.Equal(t, 1, e.revisions(e.statefulSet("rqlite")), "ControllerRevisions of the new StatefulSet")
	assert.Equal(t, claims, e.claimUIDs(sts.Spec.Selector.MatchLabels), "the claims were replaced")

	// The new template applies to Pods added from now on.
	four := bigger
	four.voters = 4
	e.apply(renderSpec(t, four.yaml(ns)))
	e.waitPods(sts.Spec.Selector.MatchLabels, ordinalNames("rqlite", 4))
	var added *corev1.PersistentVolumeClaim
	e.eventually("claim data-rqlite-3", func() (bool, string) {
		added, err = e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data-rqlite-3", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	assert.Equal(t, "20Gi", added.Spec.Resources.Requests.Storage().String(), "a claim created after the migration")
	for i := range 3 {
		pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, fmt.Sprintf("data-rqlite-%d", i), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "20Gi", pvc.Spec.Resources.Requests.Storage().String())
		assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase)
	}
}

// TestStorageClassChangeOneNodeAtATime runs the in-place StorageClass runbook: after the orphan
// delete and the new render, the existing claims keep the old class; replacing one node (its
// claim, then its Pod) lets the StatefulSet controller recreate both, the claim from the new
// template, while every other Pod and claim stays as it was. rqlite then rebuilds the node's
// data from the leader; that part needs running nodes and is the runbook's to describe.
func TestStorageClassChangeOneNodeAtATime(t *testing.T) {
	const ns = "storage-class"
	e := newEnv(t, ns)
	spec := clusterSpec{voters: 3, class: "rqlite-e2e-hdd"}
	e.apply(renderSpec(t, spec.yaml(ns)))
	sel := e.statefulSet("rqlite").Spec.Selector.MatchLabels
	e.waitPods(sel, ordinalNames("rqlite", 3))
	checkClaims(e, e.statefulSet("rqlite"), 3)
	old := e.settled("rqlite")

	moved := spec
	moved.class = "rqlite-e2e-ssd"
	next := renderSpec(t, moved.yaml(ns))
	_, err := e.applyWarnings(next)
	require.Error(t, err, "the server accepted a new StorageClass on the live StatefulSet")
	assert.Contains(t, err.Error(), "spec.volumeClaimTemplates: Invalid value:")

	orphan := metav1.DeletePropagationOrphan
	require.NoError(t, e.client.AppsV1().StatefulSets(ns).Delete(e.ctx, "rqlite", metav1.DeleteOptions{PropagationPolicy: &orphan}))
	e.eventually("the StatefulSet to be gone", func() (bool, string) {
		_, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, "rqlite", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	e.apply(next)
	sts := e.settled("rqlite")
	assert.NotEqual(t, old.UID, sts.UID)
	assert.Equal(t, old.Status.UpdateRevision, sts.Status.UpdateRevision, "the new StatefulSet rolls the Pods")

	for _, i := range []int{2, 1, 0} {
		pod, claim := fmt.Sprintf("rqlite-%d", i), fmt.Sprintf("data-rqlite-%d", i)
		pods, claims := podUIDs(e.pods(sel)), e.claimUIDs(sel)
		// Claim first: its protection finalizer holds it until the Pod is gone, so the
		// recreated Pod cannot pick the old claim up again.
		require.NoError(t, e.client.CoreV1().PersistentVolumeClaims(ns).Delete(e.ctx, claim, metav1.DeleteOptions{}))
		require.NoError(t, e.client.CoreV1().Pods(ns).Delete(e.ctx, pod, metav1.DeleteOptions{}))
		e.eventually("Pod "+pod+" and claim "+claim+" recreated", func() (bool, string) {
			p, c := podUIDs(e.pods(sel)), e.claimUIDs(sel)
			return p[pod] != "" && p[pod] != pods[pod] && c[claim] != "" && c[claim] != claims[claim],
				fmt.Sprintf("pod %s, claim %s", p[pod], c[claim])
		})
		pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, claim, metav1.GetOptions{})
		require.NoError(t, err)
		require.NotNil(t, pvc.Spec.StorageClassName)
		assert.Equal(t, "rqlite-e2e-ssd", *pvc.Spec.StorageClassName, "claim %s", claim)
		for name, uid := range podUIDs(e.pods(sel)) {
			if name != pod {
				assert.Equal(t, pods[name], uid, "replacing %s replaced Pod %s too", pod, name)
			}
		}
		for name, uid := range e.claimUIDs(sel) {
			if name != claim {
				assert.Equal(t, claims[name], uid, "replacing %s replaced claim %s too", pod, name)
			}
		}
	}
}

func (e *env) claims(selector map[string]string) []corev1.PersistentVolumeClaim {
	e.t.Helper()
	list, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).List(e.ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(selector).String(),
	})
	require.NoError(e.t, err)
	var out []corev1.PersistentVolumeClaim
	for _, c := range list.Items {
		if c.DeletionTimestamp == nil {
			out = append(out, c)
		}
	}
	return out
}

func (e *env) claimUIDs(selector map[string]string) map[string]types.UID {
	e.t.Helper()
	out := map[string]types.UID{}
	for _, c := range e.claims(selector) {
		out[c.Name] = c.UID
	}
	return out
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func podUIDs(pods []corev1.Pod) map[string]types.UID {
	out := map[string]types.UID{}
	for _, p := range pods {
		out[p.Name] = p.UID
	}
	return out
}

// createExpandableClass creates a StorageClass that allows expansion. Admission
// (PersistentVolumeClaimResize) refuses a larger request for any claim whose class does not.
func createExpandableClass(e *env, name string) {
	e.t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name},
		Provisioner:          "kubernetes.io/no-provisioner",
		AllowVolumeExpansion: ptr(true),
		VolumeBindingMode:    ptr(storagev1.VolumeBindingImmediate),
	}
	_, err := e.client.StorageV1().StorageClasses().Create(e.ctx, sc, metav1.CreateOptions{})
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		_ = e.client.StorageV1().StorageClasses().Delete(e.ctx, name, metav1.DeleteOptions{})
	})
}

// createBoundVolume creates a PersistentVolume reserved (claimRef) for one claim of the env's
// namespace: a claim only becomes expandable once it is bound.
func createBoundVolume(e *env, class, claim, size string) {
	e.t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: e.ns + "-" + claim},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: e.ns, Name: claim},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/rqlite-e2e/" + e.ns + "/" + claim},
			},
		},
	}
	_, err := e.client.CoreV1().PersistentVolumes().Create(e.ctx, pv, metav1.CreateOptions{})
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		_ = e.client.CoreV1().PersistentVolumes().Delete(e.ctx, pv.Name, metav1.DeleteOptions{})
	})
}

func (e *env) waitClaimBound(name string) {
	e.t.Helper()
	e.eventually("claim "+name+" bound", func() (bool, string) {
		pvc, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pvc.Status.Phase == corev1.ClaimBound, string(pvc.Status.Phase)
	})
}

func ptr[T any](v T) *T { return &v }
