package apiserver

import (
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelmReferenceIsRefusedByPodSecurity is the negative control: the same harness and
// assertions that pass rqlite-krm's renders must fail a render that does not meet the
// "restricted" standard. The chart's objects are all accepted (admission only warns about a
// workload), and then the StatefulSet controller's Pods are refused, which shows up only as
// FailedCreate events. If this test ever passes the other way round, the namespace label, the
// admission plugin or the event lookup has stopped working, and so would every positive test.
func TestHelmReferenceIsRefusedByPodSecurity(t *testing.T) {
	// The rqlite Helm chart 2.0.0's render for 3 voters, built from internal/helmchart's facts:
	// its pod template has no container security context, as the chart's has none.
	stream, err := helmchart.Lookup("three-voters").YAML()
	require.NoError(t, err)
	m := parseManifest(t, stream)
	require.NotEmpty(t, m.ofKind("StatefulSet"))

	e := newEnv(t, "helm-reference")
	warnings, err := e.applyWarnings(m)
	require.NoError(t, err, "the server accepts every object of the chart")
	var podSecurity []string
	for _, w := range warnings {
		if strings.Contains(w, "would violate PodSecurity") {
			podSecurity = append(podSecurity, w)
		}
	}
	require.NotEmpty(t, podSecurity, "no PodSecurity warning for the chart's StatefulSet; warnings: %q", warnings)
	t.Logf("warning: %s", podSecurity[0])
	assert.Contains(t, podSecurity[0], "StatefulSet helm-reference/rqlite")

	var refusal string
	e.eventually("a FailedCreate event from Pod Security", func() (bool, string) {
		for _, r := range e.failedCreates() {
			if strings.Contains(r, "violates PodSecurity") {
				refusal = r
				return true, ""
			}
		}
		return false, "no refusal yet"
	})
	t.Logf("refusal: %s", refusal)
	assert.Contains(t, refusal, `"restricted:latest"`)
	assert.Contains(t, refusal, "StatefulSet rqlite")

	// The controller retries with backoff; none of its attempts may get through. Polled here, not
	// with assert.Never: Never returns while a check may still be running in its goroutine, whose
	// request then fails on the test's cancelled context (seen under load).
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		require.Empty(t, e.pods(nil), "a Pod of the chart was admitted into a restricted namespace")
	}
}
