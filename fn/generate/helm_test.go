package generate_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func decodeStream(t *testing.T, b []byte) (map[string]*appsv1.StatefulSet, map[string]*corev1.Service) {
	t.Helper()
	sts := map[string]*appsv1.StatefulSet{}
	svcs := map[string]*corev1.Service{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &head))
		switch head.Kind {
		case "StatefulSet":
			var s appsv1.StatefulSet
			require.NoError(t, yaml.Unmarshal(doc, &s))
			sts[s.Name] = &s
		case "Service":
			var s corev1.Service
			require.NoError(t, yaml.Unmarshal(doc, &s))
			svcs[s.Name] = &s
		}
	}
	return sts, svcs
}

// TestHelmChartNamingAdoptsTheChartsObjects checks that naming: helm-chart renders StatefulSets
// the chart's existing ones can be replaced by in place: same names, governing Services, selectors
// (immutable), volume claim templates (immutable; PVC names follow them), pod names (node ids),
// data directory and Raft addresses.
func TestHelmChartNamingAdoptsTheChartsObjects(t *testing.T) {
	// The chart's render for 3 voters and 3 read-only nodes, release "rqlite" in namespace "db",
	// from internal/helmchart's facts.
	ref, err := helmchart.Lookup("three-voters-readonly").YAML()
	require.NoError(t, err)
	chartSTS, chartSvcs := decodeStream(t, ref)
	require.Len(t, chartSTS, 2)

	doc, err := os.ReadFile(filepath.Join(testdata, "specs", "helm-chart-naming.yaml"))
	require.NoError(t, err)
	res := generate.FromYAML(doc)
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	var out bytes.Buffer
	for _, o := range res.Objects {
		b, err := yaml.Marshal(o)
		require.NoError(t, err)
		out.WriteString("---\n")
		out.Write(b)
	}
	ourSTS, ourSvcs := decodeStream(t, out.Bytes())

	for name, chart := range chartSTS {
		ours, ok := ourSTS[name]
		require.True(t, ok, "no StatefulSet %q", name)
		assert.Equal(t, chart.Spec.ServiceName, ours.Spec.ServiceName, "%s serviceName", name)
		assert.Equal(t, chart.Spec.Selector, ours.Spec.Selector, "%s selector", name)
		assert.Equal(t, chart.Spec.PodManagementPolicy, ours.Spec.PodManagementPolicy)
		require.Len(t, ours.Spec.VolumeClaimTemplates, len(chart.Spec.VolumeClaimTemplates))
		for i := range chart.Spec.VolumeClaimTemplates {
			c, o := chart.Spec.VolumeClaimTemplates[i], ours.Spec.VolumeClaimTemplates[i]
			assert.Equal(t, c.Name, o.Name, "claim name decides the PVC names")
			assert.Equal(t, c.Spec.AccessModes, o.Spec.AccessModes)
			assert.Equal(t, c.Spec.Resources.Requests.Storage().String(), o.Spec.Resources.Requests.Storage().String())
		}
		assert.Equal(t, *chart.Spec.Replicas, *ours.Spec.Replicas)
		// The chart mounts the claim at /rqlite and its entrypoint uses that as the data directory;
		// the node id is the pod name and the Raft address the pod's FQDN (hostname -f).
		var mount string
		for _, m := range ours.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.Name == "storage" {
				mount = m.MountPath
			}
		}
		assert.Equal(t, "/rqlite", mount)
		args := ours.Spec.Template.Spec.Containers[0].Args
		assert.Equal(t, "/rqlite", args[len(args)-1])
		assert.Contains(t, args, "-node-id=$(POD_NAME)")
		assert.Contains(t, args, "-raft-adv-addr=$(POD_NAME)."+chart.Spec.ServiceName+".$(POD_NAMESPACE).svc.cluster.local:4002")
		assert.Equal(t, chart.Spec.Template.Spec.SecurityContext.RunAsUser, ours.Spec.Template.Spec.SecurityContext.RunAsUser, "file ownership on the volumes")
	}
	for _, name := range []string{"rqlite", "rqlite-readonly", "rqlite-headless", "rqlite-headless-readonly"} {
		chart, ok := chartSvcs[name]
		require.True(t, ok, name)
		ours, ok := ourSvcs[name]
		require.True(t, ok, "no Service %q", name)
		assert.Equal(t, chart.Spec.Selector, ours.Spec.Selector, "%s selector", name)
		assert.Equal(t, chart.Spec.ClusterIP, ours.Spec.ClusterIP, "%s clusterIP", name)
		assert.Equal(t, chart.Spec.Ports[0].Port, ours.Spec.Ports[0].Port, "%s port: clients keep their URLs", name)
	}
	// peers.json names the nodes as the chart's Raft configuration does.
	assert.Contains(t, out.String(), `"address": "rqlite-0.rqlite-headless.db.svc.cluster.local:4002"`)
}
