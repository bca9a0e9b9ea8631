package apiserver

import (
	"context"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oldestAPIServer is the kube-apiserver of the oldest Kubernetes minor the renders support
// (README, "Supported versions"), built by hack/install-tools.sh. 1.30 is the first release in
// which the native `sleep` preStop action the pods use (feature PodLifecycleSleepAction) is on by
// default; in 1.29 it is alpha and off.
const (
	oldestAPIServer = "kube-apiserver-1.30"
	oldestMinor     = "30"
)

// startOldest starts a control plane of the oldest supported minor for one test: only etcd and
// the API server (the controller manager is built at the current release only, and validation,
// defaulting and admission are the API server's).
func startOldest(t *testing.T, extraArgs ...string) (*testenv.ControlPlane, context.Context) {
	t.Helper()
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{
		APIServer:          oldestAPIServer,
		ExtraAPIServerArgs: extraArgs,
		StartTimeout:       3 * time.Minute,
	})
	v, err := cp.Client().Discovery().ServerVersion()
	require.NoError(t, err)
	require.Equal(t, oldestMinor, v.Minor, "%s reports %s", oldestAPIServer, v.GitVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return cp, ctx
}

// dryRun server-side applies a render with dryRun=All into a restricted namespace of its own and
// returns, for every rendered object, the paths of the fields the server dropped from it.
func dryRun(t *testing.T, cp *testenv.ControlPlane, ctx context.Context, j renderJob) (dropped map[string][]string, warnings []string, err error) {
	t.Helper()
	m := j.manifest(t)
	testenv.CreateRestrictedNamespace(t, cp, j.ns)
	ensureCRDs(&env{t: t, cp: cp, ns: j.ns, client: cp.Client(), dyn: cp.Dynamic(), ctx: ctx}, m)
	results, warnings, err := testenv.ServerSideDryRun(ctx, cp, j.ns, m.bytes(t), fieldManager)
	require.Len(t, results, len(m))
	dropped = map[string][]string{}
	for i, o := range m {
		if results[i] == nil {
			continue // refused: err says why
		}
		var paths []string
		droppedPaths("", o.Object, results[i].Object, &paths)
		if len(paths) > 0 {
			dropped[o.GetKind()+"/"+o.GetName()] = paths
		}
	}
	return dropped, warnings, err
}

// TestEveryRenderIsAcceptedByOldestKubernetes: the oldest supported API server takes every
// committed render as it is (server-side dry-run apply into namespaces enforcing Pod Security
// "restricted"): no error, no warning, and no field dropped on the way — an older server drops a
// field whose feature is off instead of refusing it, and the object it stores then lacks it.
// TestEveryRenderIsAdmitted does all this and more against the current release.
func TestEveryRenderIsAcceptedByOldestKubernetes(t *testing.T) {
	cp, ctx := startOldest(t)
	for _, j := range renderJobs(t) {
		t.Run(j.file, func(t *testing.T) {
			t.Parallel()
			dropped, warnings, err := dryRun(t, cp, ctx, j)
			require.NoError(t, err, "Kubernetes 1.%s refused part of the render", oldestMinor)
			assert.Empty(t, warnings, "Kubernetes 1.%s warned about the render", oldestMinor)
			assert.Empty(t, dropped, "Kubernetes 1.%s dropped fields of the render", oldestMinor)
		})
	}
}

// TestSleepActionSetsTheMinimum is the control for the test above: the same API server with the
// sleep action switched off, as 1.29 ships it, accepts the render but silently drops the rqlite
// container's lifecycle (its preStop sleep is all it has): pods would stop without the pause that
// lets endpoints drop them first. So
// the minimum is 1.30 because of the preStop sleep, and the check above is not vacuous.
func TestSleepActionSetsTheMinimum(t *testing.T) {
	cp, ctx := startOldest(t, "--feature-gates=PodLifecycleSleepAction=false")
	dropped, _, err := dryRun(t, cp, ctx, renderJob{file: "testdata/golden/three-voters.yaml", ns: "sleep-off"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"StatefulSet/rqlite": {".spec.template.spec.containers[0].lifecycle"},
	}, dropped)
}
