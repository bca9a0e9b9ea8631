package kube

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const spec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: kube-client
spec:
  voters:
    replicas: 5
  readOnly:
    replicas: 2
`

// TestShrinkRBACOnRealAPIServer applies a real render to a real kube-apiserver, then talks to it as
// the shrink Job does: with the rendered ServiceAccount's token (from the TokenRequest API), through
// in-cluster configuration. It proves the client's calls and that the rendered Role grants exactly
// what the workflow needs and nothing beside it.
func TestShrinkRBACOnRealAPIServer(t *testing.T) {
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testenv.CreateRestrictedNamespace(t, cp, "kube-client")
	res := generate.FromYAML([]byte(spec))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	manifests, err := render.EncodeAll(res.Objects)
	require.NoError(t, err)
	require.NoError(t, testenv.ServerSideApply(ctx, cp, "kube-client", manifests, "rqlite-krm-test"))

	tok, err := cp.Client().CoreV1().ServiceAccounts("kube-client").CreateToken(ctx, "rqlite-shrink",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	require.NoError(t, err)

	// What the kubelet mounts into the Job's pod.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte(tok.Status.Token), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), cp.RESTConfig().CAData, 0o600))
	u, err := url.Parse(cp.Host())
	require.NoError(t, err)
	c, err := inCluster(dir, u.Hostname(), u.Port())
	require.NoError(t, err)

	scale, err := c.GetScale(ctx, "kube-client", "rqlite")
	require.NoError(t, err)
	assert.Equal(t, int32(5), scale.Spec.Replicas)
	require.NoError(t, c.SetReplicas(ctx, "kube-client", "rqlite", 4))
	sts, err := c.GetStatefulSet(ctx, "kube-client", "rqlite")
	require.NoError(t, err)
	assert.Equal(t, int32(4), *sts.Spec.Replicas)
	cm, err := c.GetConfigMap(ctx, "kube-client", "rqlite-config")
	require.NoError(t, err)
	assert.Equal(t, "5", cm.Data["bootstrap-expect"])
	pods, err := c.ListPods(ctx, "kube-client", "app.kubernetes.io/instance=rqlite,app.kubernetes.io/component=voter")
	require.NoError(t, err)
	assert.Empty(t, pods, "no controller manager runs here, so there are no pods")

	// Least privilege: the read-only pool, other StatefulSets and other ConfigMaps are out of reach.
	err = c.SetReplicas(ctx, "kube-client", "rqlite-readonly", 0)
	assert.True(t, IsForbidden(err), "scaling the read-only pool must be forbidden, got %v", err)
	_, err = c.GetStatefulSet(ctx, "kube-client", "rqlite-readonly")
	assert.True(t, IsForbidden(err), "got %v", err)
	_, err = c.GetConfigMap(ctx, "kube-client", "kube-root-ca.crt")
	assert.True(t, IsForbidden(err), "got %v", err)
	_, err = c.ListPods(ctx, "default", "")
	assert.True(t, IsForbidden(err), "other namespaces must be out of reach, got %v", err)
	// The Job never edits the StatefulSet itself, only its scale.
	_, err = cp.Client().CoreV1().Secrets("kube-client").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = c.do(ctx, "GET", "/api/v1/namespaces/kube-client/secrets/s", "", nil, nil)
	assert.True(t, IsForbidden(err), "got %v", err)

	// The admin kubeconfig path, for running the workflow from a workstation.
	admin, err := FromKubeconfig(cp.Kubeconfig())
	require.NoError(t, err)
	_, err = admin.GetStatefulSet(ctx, "kube-client", "rqlite-readonly")
	require.NoError(t, err)
	_, err = admin.GetStatefulSet(ctx, "kube-client", "missing")
	assert.True(t, IsNotFound(err), "got %v", err)
}

func TestInClusterNeedsServiceAccount(t *testing.T) {
	_, err := inCluster(t.TempDir(), "", "")
	assert.ErrorContains(t, err, "KUBERNETES_SERVICE_HOST")
	_, err = inCluster(t.TempDir(), "127.0.0.1", "443")
	assert.ErrorContains(t, err, "service account CA")
}

func ptr[T any](v T) *T { return &v }
