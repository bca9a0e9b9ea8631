package apiserver

import (
	"fmt"
	"slices"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// exporterPath is where `rqlite-fn exporter` serves metrics (fn/cli/exporter.go).
const exporterPath = "/metrics"

// checkPodMonitor checks a PodMonitor as the server stored it (schema: the Prometheus operator's
// own CRD, internal/crds) against the Pods the controllers created, the way the operator reads
// it: with no namespaceSelector it looks in its own namespace, selects Pods by spec.selector and
// scrapes, for each podMetricsEndpoint, the container port of that name. It must select exactly
// the Pods that serve metrics (none missed, no target without the port), and the port it names
// must be the one the exporter container listens on (its --listen flag), at the exporter's path.
func checkPodMonitor(e *env, live *unstructured.Unstructured, pods []corev1.Pod) {
	t := e.t
	t.Helper()
	require.NotNil(t, live, "the PodMonitor is not on the server")
	what := "PodMonitor " + live.GetName()
	_, hasNS, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "namespaceSelector")
	assert.False(t, hasNS, "%s: a namespaceSelector would look beyond the cluster's namespace", what)

	var sel metav1.LabelSelector
	raw, _, _ := unstructured.NestedMap(live.Object, "spec", "selector")
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &sel), what)
	s, err := metav1.LabelSelectorAsSelector(&sel)
	require.NoError(t, err, what)
	require.False(t, s.Empty(), "%s selects every Pod in the namespace", what)

	endpoints, _, _ := unstructured.NestedSlice(live.Object, "spec", "podMetricsEndpoints")
	require.NotEmpty(t, endpoints, what)
	for _, raw := range endpoints {
		ep := raw.(map[string]any)
		port, _ := ep["port"].(string)
		require.NotEmpty(t, port, "%s: an endpoint without a port name", what)
		assert.Equal(t, exporterPath, ep["path"], "%s port %s", what, port)

		var selected, serving []string
		for _, p := range pods {
			if s.Matches(labels.Set(p.Labels)) {
				selected = append(selected, p.Name)
			}
			c, cp := containerPort(p, port)
			if c == nil {
				continue
			}
			serving = append(serving, p.Name)
			listen := fmt.Sprintf("--listen=:%d", cp.ContainerPort)
			assert.True(t, slices.Contains(c.Args, listen) && cp.Protocol == corev1.ProtocolTCP,
				"Pod %s: port %q (%d/%s) of container %s is not where it listens (args %q)", p.Name, port, cp.ContainerPort, cp.Protocol, c.Name, c.Args)
			assert.True(t, len(c.Args) > 0 && c.Args[0] == "exporter", "Pod %s: port %q is not the exporter's (args %q)", p.Name, port, c.Args)
		}
		require.NotEmpty(t, serving, "%s: no Pod has a port named %q", what, port)
		assert.Equal(t, serving, selected, "%s selects other Pods than those serving port %q", what, port)
	}
}

// containerPort finds the container and port named name in a Pod.
func containerPort(p corev1.Pod, name string) (*corev1.Container, *corev1.ContainerPort) {
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		for j := range c.Ports {
			if c.Ports[j].Name == name {
				return c, &c.Ports[j]
			}
		}
	}
	return nil, nil
}
