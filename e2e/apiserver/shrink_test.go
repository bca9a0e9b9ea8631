package apiserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestKubectlShrinkRunbookRunsANewJob follows the README's kubectl runbook for a voter shrink
// ("Shrink voters", kubectl: apply the shrink objects, wait for the Job, apply the rest) through
// a round trip 3 → 9 → 3. kubectl apply never deletes, and a finished shrink Job stays for a day
// (ttlSecondsAfterFinished), so the Job the first apply created is still there when the render
// for 3 comes back; the Job name depends only on the target and the template, so it is the same
// name. The shrink must still run: the apply for 9 → 3 must create a new Job.
//
// This fails today: the apply is a no-op on the old Job (same name, same template), no shrink
// runs, `kubectl wait --for=condition=complete` returns at once because that Job completed long
// ago, and the final apply lowers replicas from 9 to 3 directly, which with
// podManagementPolicy: Parallel stops 6 of 9 voters at once (quorum lost; README, "Without the
// Job"). Argo CD (BeforeHookCreation) and kpt live apply (pruning) delete the old Job first and
// are not affected; TestUpgradeSequence covers the pruning path.
func TestKubectlShrinkRunbookRunsANewJob(t *testing.T) {
	const ns = "shrink-kubectl"
	e := newEnv(t, ns)
	kubectlRunbook := func(spec clusterSpec) types.UID {
		t.Helper()
		m := renderSpec(t, spec.yaml(ns))
		var shrink manifest
		for _, o := range m {
			if o.GetLabels()[labelComponent] == "shrink" {
				shrink = append(shrink, o)
			}
		}
		jobs := shrink.ofKind("Job")
		require.Len(t, jobs, 1)
		// kubectl delete job -l app.kubernetes.io/component=shrink,app.kubernetes.io/instance=<name> --ignore-not-found
		fg := metav1.DeletePropagationForeground
		require.NoError(t, e.client.BatchV1().Jobs(ns).DeleteCollection(e.ctx,
			metav1.DeleteOptions{PropagationPolicy: &fg},
			metav1.ListOptions{LabelSelector: labelComponent + "=shrink,app.kubernetes.io/instance=rqlite"}))
		require.Eventually(t, func() bool {
			l, err := e.client.BatchV1().Jobs(ns).List(e.ctx, metav1.ListOptions{LabelSelector: labelComponent + "=shrink"})
			return err == nil && len(l.Items) == 0
		}, time.Minute, 100*time.Millisecond, "old shrink Jobs are gone")
		// kubectl apply -f all.yaml -l app.kubernetes.io/component=shrink
		e.apply(shrink)
		job, err := e.client.BatchV1().Jobs(ns).Get(e.ctx, jobs[0].GetName(), metav1.GetOptions{})
		require.NoError(t, err)
		// (kubectl wait: no kubelet runs the Job here; what matters is which Job it waits for.)
		// kubectl apply -f all.yaml
		e.apply(m)
		return job.UID
	}

	first := kubectlRunbook(clusterSpec{voters: 3})
	grow := kubectlRunbook(clusterSpec{voters: 9})
	assert.NotEqual(t, first, grow)
	shrinkJob := kubectlRunbook(clusterSpec{voters: 3})
	assert.NotEqual(t, first, shrinkJob,
		"the 9 → 3 apply reused the Job left from the first apply (same name %s): no shrink would run, and the StatefulSet would drop 6 of 9 voters at once",
		renderSpec(t, clusterSpec{voters: 3}.yaml(ns)).ofKind("Job")[0].GetName())
}
