package apiserver

import (
	"maps"
	"slices"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// handoverManager is the field manager of the one-off apply that keeps spec.replicas owned while
// the render stops sending it (docs/storage-migration.md, "Switching a read-only pool to
// autoscaling").
const handoverManager = "handover-to-hpa"

// TestAutoscalingHandoverKeepsThePool runs the documented switch from a fixed read-only pool to
// an autoscaled one. Applied naively, the render without spec.replicas makes the server reset
// the field to its default, 1 (TestUpgradeSequence shows that); with the handover first, the
// pool keeps its size and every Pod, and the autoscaler's later writes stick.
func TestAutoscalingHandoverKeepsThePool(t *testing.T) {
	const ns = "autoscale-handover"
	e := newEnv(t, ns)
	fixed := clusterSpec{voters: 3, readOnly: 3}
	e.apply(renderSpec(t, fixed.yaml(ns)))
	sel := e.statefulSet("rqlite-readonly").Spec.Selector.MatchLabels
	before := podUIDs(slices.Collect(maps.Values(e.waitPods(sel, ordinalNames("rqlite-readonly", 3)))))

	// Step 1: a second manager takes (shares) ownership of spec.replicas at its current value.
	handover := manifest{parseManifest(t, []byte(`
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: rqlite-readonly
  namespace: autoscale-handover
spec:
  replicas: 3
`))[0]}
	require.NoError(t, testenv.ServerSideApply(e.ctx, e.cp, ns, handover.bytes(t), handoverManager))

	// Step 2: apply the autoscaled render as usual.
	auto := clusterSpec{voters: 3, autoscale: [2]int{2, 10}}
	m := renderSpec(t, auto.yaml(ns))
	log := e.watchReplicas()
	e.apply(m)
	sts := e.statefulSet("rqlite-readonly")
	assert.False(t, ownsField(sts, fieldManager, "f:spec", "f:replicas"), "owners: %v", replicasOwners(sts))
	assert.Equal(t, []string{handoverManager}, replicasOwners(sts))

	// Let the HPA controller look at it: 3 is within 2..10 and there are no metrics, so it
	// leaves the count alone.
	e.eventually("the HPA to observe the pool", func() (bool, string) {
		hpa, err := e.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(e.ctx, "rqlite-readonly", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return hpa.Status.CurrentReplicas == 3, "no status yet"
	})
	assert.Equal(t, []int32{3}, log.finish()["rqlite-readonly"], "spec.replicas moved during the switch")
	assert.Equal(t, before, podUIDs(e.pods(sel)), "the switch replaced read-only Pods")

	// The autoscaler's writes take the field over from the handover manager and survive the
	// next apply of the render.
	scaleAsHPA(e, "rqlite-readonly", 5)
	e.apply(m)
	sts = e.statefulSet("rqlite-readonly")
	assert.Equal(t, int32(5), ptrOr(sts.Spec.Replicas))
	assert.Equal(t, []string{hpaStandIn + " (scale)"}, replicasOwners(sts))
	e.waitPods(sel, ordinalNames("rqlite-readonly", 5))
}
