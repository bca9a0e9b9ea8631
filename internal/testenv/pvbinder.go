package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// pvBinder stands in for a local-volume provisioner: for every PersistentVolumeClaim that has
// no volume it creates a directory on the node and a `local` PersistentVolume for it, bound to
// the claim (claimRef) and pinned to the node (nodeAffinity); kube-controller-manager's binder
// completes the binding. `local` rather than hostPath because the kubelet applies fsGroup
// ownership to local volumes (uid 10050's PVC) and not to hostPath. The volume, and the data on
// it, outlive the pod and the claim (Retain), as on a real node. A provisioner built from its
// module (sig-storage-local-static-provisioner) would do the same from a DaemonSet; this loop
// is 100 lines instead of another image and tool build.
type pvBinder struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startPVBinder(client kubernetes.Interface, root string) *pvBinder {
	ctx, cancel := context.WithCancel(context.Background())
	b := &pvBinder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for ctx.Err() == nil {
			if err := bindPending(ctx, client, root); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "testenv: pv binder: %v\n", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return b
}

func (b *pvBinder) stop() {
	b.cancel()
	<-b.done
}

// PVName is the name of the PersistentVolume the node creates for a claim.
func PVName(namespace, claim string) string { return "local-" + namespace + "-" + claim }

func bindPending(ctx context.Context, client kubernetes.Interface, root string) error {
	claims, err := client.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, c := range claims.Items {
		if c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		name := PVName(c.Namespace, c.Name)
		dir := filepath.Join(root, c.Namespace, c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		fs := corev1.PersistentVolumeFilesystem
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   c.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				VolumeMode:                    &fs,
				StorageClassName:              derefString(c.Spec.StorageClassName),
				ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
					Namespace: c.Namespace, Name: c.Name, UID: c.UID},
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname,
						Operator: corev1.NodeSelectorOpIn, Values: []string{NodeName}}},
				}}}},
			},
		}
		_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create PersistentVolume %s: %w", name, err)
		}
	}
	return nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
