package helmchart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// writeReference lays out a reference directory as Check reads it, from the facts themselves,
// so that a test can change one thing in it and see Check report exactly that.
func writeReference(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, err := helmchart.WriteValues(dir)
	require.NoError(t, err)
	defaults, err := yaml.Marshal(helmchart.DefaultValues())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, helmchart.DefaultsFile), defaults, 0o644))
	for _, c := range helmchart.Cases {
		b, err := c.YAML()
		require.NoError(t, err)
		// The chart's extra objects, with nothing the facts check but their kind and name.
		for _, o := range c.Chart.Others {
			b = append(b, "---\n# an object the facts only name\nkind: "+o.Kind+"\nmetadata: {name: "+o.Name+"}\n"...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, c.RenderFile), b, 0o644))
	}
	return dir
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old, path)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// TestCheck runs the reference check on a directory that matches the facts, then on ones that
// differ in one fact each: every difference is reported, and only it.
func TestCheck(t *testing.T) {
	diffs, err := helmchart.Check(writeReference(t))
	require.NoError(t, err)
	assert.Empty(t, diffs, "the facts against themselves")

	for _, tc := range []struct {
		name, file, old, new string
		want                 string
	}{
		{"replicas", "helm-render-9voters.yaml", "replicas: 9", "replicas: 8", "nine-voters: StatefulSet/rqlite .spec.replicas: facts 9, render 8"},
		{"serviceName", "helm-render-3voters-3readonly.yaml", "serviceName: rqlite-headless-readonly", "serviceName: rqlite-readonly",
			"three-voters-readonly: StatefulSet/rqlite-readonly .spec.serviceName: facts rqlite-headless-readonly, render rqlite-readonly"},
		{"claim size", "helm-render-fullfeatures.yaml", "storage: 50Gi", "storage: 20Gi", "fullfeatures: StatefulSet/rqlite .spec.volumeClaimTemplates[0].spec.resources.requests.storage: facts 50Gi, render 20Gi"},
		{"an extra flag", "helm-render-3voters.yaml", "- -fk=true", "- -fk=true\n        - -raft-snap=10", "three-voters: StatefulSet/rqlite .spec.template.spec.containers[0].args: facts"},
		{"the script", "helm-render-default1.yaml", "/bin/docker-entrypoint.sh", "/bin/entrypoint.sh", "the chart's script lacks"},
		{"a missing object", "helm-render-fullfeatures.yaml", "kind: Ingress\nmetadata: {name: rqlite-readonly}", "kind: Ingress\nmetadata: {name: rqlite-ro}", "fullfeatures: objects: facts"},
		{"a label", "helm-render-3voters.yaml", "helm.sh/chart: rqlite-2.0.0", "helm.sh/chart: rqlite-2.0.1", "three-voters: PodDisruptionBudget/rqlite .metadata.labels.helm.sh/chart: facts rqlite-2.0.0, render rqlite-2.0.1"},
		{"peers.json", "helm-render-3voters.yaml", `"id": "rqlite-2"`, `"id": "rqlite-3"`, "peers.json"},
		{"a values file", "values/values-3ro3.yaml", "readonly: {replicaCount: 3}", "readonly: {replicaCount: 2}", "three-voters-readonly values: readonly.replicaCount: facts 3"},
		{"a default", helmchart.DefaultsFile, "size: 10Gi", "size: 8Gi", "chart defaults: persistence.size: facts 10Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeReference(t)
			edit(t, filepath.Join(dir, tc.file), tc.old, tc.new)
			diffs, err := helmchart.Check(dir)
			require.NoError(t, err)
			require.NotEmpty(t, diffs)
			for _, d := range diffs {
				assert.Contains(t, d, tc.want)
			}
		})
	}

	dir := writeReference(t)
	require.NoError(t, os.Remove(filepath.Join(dir, "helm-render-3voters.yaml")))
	_, err = helmchart.Check(dir)
	assert.ErrorContains(t, err, "helm-render-3voters.yaml", "a missing render is an error, not a pass")
}

// TestFacts pins the facts the adoption tests rely on, case by case.
func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		name             string
		voters, readOnly int32
		objects          int
	}{
		{"defaults", 1, 0, 9},
		{"three-voters", 3, 0, 9},
		{"nine-voters", 9, 0, 9},
		{"three-voters-readonly", 3, 3, 13},
		{"fullfeatures", 3, 2, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := helmchart.Lookup(tc.name)
			assert.Len(t, c.IDs(), tc.objects)
			sts := map[string]*appsv1.StatefulSet{}
			for _, o := range c.Objects() {
				if s, ok := o.(*appsv1.StatefulSet); ok {
					sts[s.Name] = s
				}
			}
			assert.Equal(t, tc.voters, *sts["rqlite"].Spec.Replicas)
			assert.Equal(t, "rqlite-headless", sts["rqlite"].Spec.ServiceName)
			if tc.readOnly > 0 {
				assert.Equal(t, tc.readOnly, *sts["rqlite-readonly"].Spec.Replicas)
				assert.Equal(t, "rqlite-headless-readonly", sts["rqlite-readonly"].Spec.ServiceName)
			} else {
				assert.NotContains(t, sts, "rqlite-readonly")
			}
		})
	}
	assert.Panics(t, func() { helmchart.Lookup("no-such-case") })
}

// TestDefaultValues checks that the nested form and the leaf form of the defaults agree.
func TestDefaultValues(t *testing.T) {
	flat := helmchart.Flatten(helmchart.DefaultValues())
	require.Len(t, flat, len(helmchart.Defaults))
	for _, d := range helmchart.Defaults {
		assert.Equal(t, d.Value, flat[d.Path], d.Path)
	}
	a := helmchart.DefaultValues()
	a["image"].(map[string]any)["repository"] = "changed"
	assert.Equal(t, "docker.io/rqlite/rqlite", helmchart.DefaultValues()["image"].(map[string]any)["repository"], "each call is a fresh copy")
}
