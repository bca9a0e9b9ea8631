package manifestimport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

const guideDir = "../../testdata/manifests/guide"

func guideFiles(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range []string{"service.yaml", "statefulset-3-node.yaml"} {
		b, err := os.ReadFile(filepath.Join(guideDir, f))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// TestGuideGolden: the spec and report for the guide's manifests in namespace guide.
func TestGuideGolden(t *testing.T) {
	res, err := Import(Options{Namespace: "guide"}, guideFiles(t)...)
	require.NoError(t, err)
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	assert.Empty(t, res.Report.Conflicts())
	golden.Assert(t, "../../testdata/manifests/guide.spec.yaml", res.YAML)
	var rep bytes.Buffer
	require.NoError(t, res.Report.WriteText(&rep))
	golden.Assert(t, "../../testdata/manifests/guide.report.txt", rep.Bytes())
}

// TestRenderKeepsTheImmutableFields: what the API server refuses to change on the guide's
// StatefulSet is byte for byte what the render of the imported spec writes, and the render passes
// verify (Raft addresses, cross-references, network policies).
func TestRenderKeepsTheImmutableFields(t *testing.T) {
	files := guideFiles(t)
	res, err := Import(Options{Namespace: "guide"}, files...)
	require.NoError(t, err)
	out := generate.FromYAML(res.YAML)
	require.False(t, out.Problems.HasErrors(), "%v", out.Problems)
	var old appsv1.StatefulSet
	require.NoError(t, yaml.Unmarshal(files[1], &old))
	var rendered *appsv1.StatefulSet
	for _, o := range out.Objects {
		if s, ok := o.(*appsv1.StatefulSet); ok && s.Name == old.Name {
			rendered = s
		}
	}
	require.NotNil(t, rendered, "the render has StatefulSet %s", old.Name)
	assert.Equal(t, old.Spec.Selector, rendered.Spec.Selector)
	assert.Equal(t, old.Spec.ServiceName, rendered.Spec.ServiceName)
	assert.Equal(t, old.Spec.PodManagementPolicy, rendered.Spec.PodManagementPolicy)
	require.Len(t, rendered.Spec.VolumeClaimTemplates, 1)
	o, n := old.Spec.VolumeClaimTemplates[0], rendered.Spec.VolumeClaimTemplates[0]
	assert.Equal(t, o.Name, n.Name)
	assert.Empty(t, n.Labels)
	assert.Equal(t, o.Spec, n.Spec)
	assert.Equal(t, "rqlite", rendered.Spec.Template.Labels["app"])

	var stream bytes.Buffer
	for _, o := range out.Objects {
		b, err := yaml.Marshal(o)
		require.NoError(t, err)
		stream.WriteString("---\n")
		stream.Write(b)
	}
	rep, err := verify.Stream(stream.Bytes())
	require.NoError(t, err)
	assert.Empty(t, rep.Problems, "verify on the render of the imported spec")
	assert.Equal(t, []string{"guide/rqlite"}, rep.Clusters)
}

// TestConflictsWriteNoSpec: every setting the render cannot take over in place is a conflict,
// named by its path.
func TestConflictsWriteNoSpec(t *testing.T) {
	for _, tc := range []struct{ name, from, to, path string }{
		{"another selector", "      app: rqlite # sel\n", "      app: rqlite\n      tier: db\n", "spec.selector"},
		{"another serviceName", "serviceName: rqlite-svc-internal", "serviceName: rqlite-peers", "spec.serviceName"},
		{"ordered pods", "podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady", "spec.podManagementPolicy"},
		{"another claim template", "  - metadata:\n      name: rqlite-file", "  - metadata:\n      name: data", "spec.volumeClaimTemplates"},
		{"own node id", "        - -bootstrap-expect=3\n", "        - -bootstrap-expect=3\n        - -node-id=node1\n", "-node-id=node1"},
		{"entrypoint bypassed", "        args:\n", "        command: [rqlited]\n        args:\n", "command"},
		{"data elsewhere", "          mountPath: /rqlite/file", "          mountPath: /data", "volumeMounts[rqlite-file]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := guideFiles(t)
			sts := strings.Replace(string(files[1]), "    matchLabels:\n      app: rqlite\n", "    matchLabels:\n      app: rqlite # sel\n", 1)
			require.Contains(t, sts, tc.from)
			files[1] = []byte(strings.Replace(sts, tc.from, tc.to, 1))
			res, err := Import(Options{Namespace: "guide"}, files...)
			require.NoError(t, err)
			c := res.Report.Conflicts()
			require.NotEmpty(t, c, "a conflict is reported")
			found := false
			for _, e := range c {
				found = found || strings.Contains(e.Path, tc.path)
			}
			assert.True(t, found, "a conflict at %s, got %+v", tc.path, c)
		})
	}
}

func TestInputErrors(t *testing.T) {
	files := guideFiles(t)
	_, err := Import(Options{}, files...)
	assert.ErrorIs(t, err, ErrNoNamespace)
	_, err = Import(Options{Namespace: "guide"}, files[0])
	assert.ErrorContains(t, err, "no StatefulSet")
	_, err = Import(Options{Namespace: "guide"}, files[1], files[1])
	assert.ErrorContains(t, err, "2 StatefulSets")
	_, err = Import(Options{Namespace: "guide"}, []byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicaz: 3}\n"))
	assert.ErrorContains(t, err, "replicaz")
}

// TestKubectlDump: `kubectl get -o yaml` wraps the objects in a List and adds status and
// server-set metadata; the import reads them the same.
func TestKubectlDump(t *testing.T) {
	files := guideFiles(t)
	var items []any
	for _, f := range files {
		for _, d := range splitDocuments(f) {
			var m map[string]any
			require.NoError(t, yaml.Unmarshal(d, &m))
			m["metadata"].(map[string]any)["namespace"] = "guide"
			m["metadata"].(map[string]any)["uid"] = "0b7c5f1e-0000-4000-8000-000000000000"
			m["status"] = map[string]any{}
			items = append(items, m)
		}
	}
	dump, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	require.NoError(t, err)
	got, err := Import(Options{}, dump)
	require.NoError(t, err)
	want, err := Import(Options{Namespace: "guide"}, files...)
	require.NoError(t, err)
	assert.Equal(t, string(want.YAML), string(got.YAML))
}
