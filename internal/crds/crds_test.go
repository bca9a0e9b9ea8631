package crds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// renderedKinds maps each API group this package serves to the kinds the committed renders
// (testdata/golden) use from it.
func renderedKinds(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "golden", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := testenv.DecodeObjects(data)
		require.NoError(t, err, f)
		for _, o := range objs {
			g := o.GroupVersionKind().Group
			if _, ok := sources[g]; !ok {
				continue
			}
			if out[g] == nil {
				out[g] = map[string]bool{}
			}
			out[g][o.GetKind()] = true
		}
	}
	return out
}

// TestEveryRenderedKindHasItsProjectsCRD: every kind of another project's API group that a
// committed render writes is defined, at the version the render uses, by a CRD from that
// project's module, and every file named is a v1 CRD of its group.
func TestEveryRenderedKindHasItsProjectsCRD(t *testing.T) {
	used := renderedKinds(t)
	require.NotEmpty(t, used, "no render uses cert-manager or the Prometheus operator any more: is this package still needed?")
	for _, group := range Groups() {
		t.Run(group, func(t *testing.T) {
			stream, err := Stream(group)
			require.NoError(t, err)
			objs, err := testenv.DecodeObjects(stream)
			require.NoError(t, err)
			src, _ := For(group)
			require.Len(t, objs, len(src.Files), "one CRD per file")
			defined := map[string]bool{}
			for _, o := range objs {
				assert.Equal(t, "apiextensions.k8s.io/v1", o.GetAPIVersion())
				assert.Equal(t, "CustomResourceDefinition", o.GetKind())
				g, _, _ := unstructured.NestedString(o.Object, "spec", "group")
				assert.Equal(t, group, g, o.GetName())
				kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
				versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
				for _, v := range versions {
					vm := v.(map[string]any)
					if vm["served"] == true {
						defined[kind+"."+vm["name"].(string)] = true
					}
				}
			}
			for kind := range used[group] {
				assert.True(t, defined[kind+".v1"], "%s/v1 %s is rendered but not served by the CRDs of %s (served: %v)", group, kind, src.Module, defined)
			}
		})
	}
}

// TestCertManagerFilesAreTheChartsCRDs: cert-manager's deploy/crds files warn that they are for
// development and testing and "might be incomplete"; what users install comes from the Helm
// chart's templates/crd-*.yaml. Those templates are the same YAML with template lines around the
// metadata (`{{- if .Values.crds.enabled }}`, a keep annotation, the chart's labels): with those
// lines removed, each must have the same name and spec as the plain file this package installs.
func TestCertManagerFilesAreTheChartsCRDs(t *testing.T) {
	src, _ := For("cert-manager.io")
	dir, err := ModuleDir(src.Module)
	require.NoError(t, err)
	for _, f := range src.Files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			plain, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			tmpl, err := os.ReadFile(filepath.Join(dir, "deploy/charts/cert-manager/templates", "crd-"+filepath.Base(f)))
			require.NoError(t, err)
			var want, got map[string]any
			require.NoError(t, yaml.Unmarshal(plain, &want))
			require.NoError(t, yaml.Unmarshal(withoutTemplateLines(t, tmpl), &got))
			assert.Equal(t, want["metadata"].(map[string]any)["name"], got["metadata"].(map[string]any)["name"])
			assert.Equal(t, want["spec"], got["spec"], "the chart installs another spec than deploy/crds")
		})
	}
}

// withoutTemplateLines is the chart template with its Helm lines removed: every line holding an
// action ({{ … }}), and in the metadata (before `spec:`) the annotations/labels keys whose values
// were only actions. A template line anywhere in the spec fails the test: the spec must be plain.
func withoutTemplateLines(t *testing.T, tmpl []byte) []byte {
	t.Helper()
	var out []string
	inSpec := false
	for _, line := range strings.Split(string(tmpl), "\n") {
		trimmed := strings.TrimSpace(line)
		if line == "spec:" {
			inSpec = true
		}
		switch {
		case strings.HasPrefix(trimmed, "{{") && (!inSpec || strings.HasPrefix(line, "{{- end")):
			continue
		case inSpec:
			require.NotContains(t, line, "{{", "a template action inside the CRD's spec")
		case trimmed == "annotations:" || trimmed == "labels:" || strings.HasPrefix(trimmed, "helm.sh/"):
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

func TestUnknownGroupFails(t *testing.T) {
	_, err := Stream("example.com")
	require.ErrorContains(t, err, `no CRDs known for API group "example.com"`)
}
