package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const statefulSetTemplate = `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: NAME
spec:
  serviceName: NAME
  replicas: 1
  selector:
    matchLabels: {app: NAME}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      POD_SECURITY_CONTEXT
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        CONTAINER_SECURITY_CONTEXT
`

func statefulSet(name string, restricted bool) string {
	podSC, containerSC := "securityContext: {}", "securityContext: {}"
	if restricted {
		podSC = "securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}"
		containerSC = "securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}"
	}
	return strings.NewReplacer("NAME", name,
		"POD_SECURITY_CONTEXT", podSC,
		"CONTAINER_SECURITY_CONTEXT", containerSC).Replace(statefulSetTemplate)
}

func TestControlPlane(t *testing.T) {
	cp := StartControlPlane(t, ControlPlaneOptions{ControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := cp.Client()

	const ns = "restricted"
	CreateRestrictedNamespace(t, cp, ns)
	stream := statefulSet("good", true) + "---\n" + statefulSet("bad", false)
	warnings, err := ServerSideApplyWarnings(ctx, cp, ns, []byte(stream), "testenv-test")
	require.NoError(t, err)
	// Admission only warns about the workload; the refusal comes later.
	require.Len(t, warnings, 1, "warnings: %q", warnings)
	assert.Contains(t, warnings[0], "apps/v1 StatefulSet restricted/bad: would violate PodSecurity")

	t.Run("CompliantStatefulSetGetsItsPod", func(t *testing.T) {
		var pod *corev1.Pod
		require.Eventually(t, func() bool {
			p, err := client.CoreV1().Pods(ns).Get(ctx, "good-0", metav1.GetOptions{})
			if err != nil {
				return false
			}
			pod = p
			return true
		}, time.Minute, 200*time.Millisecond, "StatefulSet controller did not create good-0")
		// No scheduler and no kubelet: the Pod is admitted and stays put.
		assert.Equal(t, corev1.PodPending, pod.Status.Phase)
		assert.Empty(t, pod.Spec.NodeName)
	})

	t.Run("NonCompliantStatefulSetIsRefusedByPodSecurity", func(t *testing.T) {
		var refusal string
		require.Eventually(t, func() bool {
			events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
				FieldSelector: "involvedObject.kind=StatefulSet,involvedObject.name=bad",
			})
			if err != nil {
				return false
			}
			for _, e := range events.Items {
				if e.Reason == "FailedCreate" && strings.Contains(e.Message, "violates PodSecurity") {
					refusal = e.Message
					return true
				}
			}
			return false
		}, time.Minute, 200*time.Millisecond, "no FailedCreate event from PodSecurity for StatefulSet bad")
		t.Logf("refusal: %s", refusal)
		assert.Contains(t, refusal, `"restricted:latest"`)

		// The controller keeps retrying with backoff; none of the retries
		// may slip through.
		assert.Never(t, func() bool {
			pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=bad"})
			return err == nil && len(pods.Items) > 0
		}, 3*time.Second, 250*time.Millisecond, "a non-compliant Pod was admitted")
	})

	t.Run("ApplyErrorNamesRejectedObject", func(t *testing.T) {
		stream := `
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: broken}
spec:
  ports: [{port: 70000}]
`
		err := ServerSideApply(ctx, cp, ns, []byte(stream), "testenv-test")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "v1 Service restricted/broken")
		assert.True(t, apierrors.IsInvalid(err), "want an Invalid error, got %v", err)
		// Objects before and after the rejected one are still applied.
		_, err = client.CoreV1().ConfigMaps(ns).Get(ctx, "fine", metav1.GetOptions{})
		assert.NoError(t, err)
	})

	t.Run("KubeconfigWorks", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig())
		require.NoError(t, err)
		c, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		_, err = c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		require.NoError(t, err)
		v, err := c.Discovery().ServerVersion()
		require.NoError(t, err)
		assert.Equal(t, "v1.37.1", v.GitVersion)
	})
}

func TestLookupToolMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RQLITE_KRM_TOOLS_BIN", dir)
	_, err := LookupTool("no-such-tool-for-testenv")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hack/install-tools.sh no-such-tool-for-testenv")

	bin := filepath.Join(dir, "fake-tool")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	got, err := LookupTool("fake-tool")
	require.NoError(t, err)
	assert.Equal(t, bin, got)
}

// TestControlPlaneMainWithoutControllerManager covers the TestMain-style
// entry point and that stopping leaves nothing behind.
func TestControlPlaneMainWithoutControllerManager(t *testing.T) {
	cp, stop, err := StartControlPlaneMain(ControlPlaneOptions{})
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			if t.Failed() {
				cp.WriteLogTails(os.Stderr, 40)
			}
			stop()
		}
	}()
	assert.False(t, cp.HasControllerManager())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Without a controller manager nothing creates the namespace's default
	// service account, so CreateRestrictedNamespace must not wait for it.
	CreateRestrictedNamespace(t, cp, "no-kcm")
	require.NoError(t, ServerSideApply(ctx, cp, "no-kcm", []byte(statefulSet("good", true)), "testenv-test"))
	time.Sleep(time.Second)
	pods, err := cp.Client().CoreV1().Pods("no-kcm").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "no controller should have acted")

	pids := []int{cp.etcd.cmd.Process.Pid, cp.apiserver.cmd.Process.Pid}
	stop()
	stopped = true
	for _, pid := range pids {
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "pid %d still exists", pid)
	}
	assert.NoDirExists(t, cp.Dir())
}
