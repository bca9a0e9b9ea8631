package kustomize

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// readKustomization decodes a kustomization strictly into kustomize's own type, so a misspelled
// field in base/ or overlays/ fails here instead of being ignored by a lenient reader.
func readKustomization(t *testing.T, path string) *types.Kustomization {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(b)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var k types.Kustomization
	require.NoError(t, dec.Decode(&k), "%s is not a valid kustomization", path)
	return &k
}

// TestOverlaysChangeTheSpecOnly pins the layout rule the README promises: every overlay generates
// the cluster from a spec/ kustomization and never transforms the generated objects, so names
// written inside args and ConfigMap data cannot go stale. Renames, namespaces, labels and patches
// belong to the spec/ kustomization.
func TestOverlaysChangeTheSpecOnly(t *testing.T) {
	root := testenv.RepoRoot(t)
	dirs, err := filepath.Glob(filepath.Join(root, "overlays", "*"))
	require.NoError(t, err)
	dirs = append(dirs, filepath.Join(root, "base"))
	require.GreaterOrEqual(t, len(dirs), 5)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			outer := readKustomization(t, filepath.Join(dir, "kustomization.yaml"))
			assert.Equal(t, []string{"spec"}, outer.Generators, "the cluster is generated from spec/")
			assert.Empty(t, outer.Resources, "generated objects are not mixed with hand-written ones")
			assert.Empty(t, outer.NamePrefix, "a namePrefix here would leave names inside args stale: put it in spec/")
			assert.Empty(t, outer.NameSuffix, "a nameSuffix here would leave names inside args stale: put it in spec/")
			assert.Empty(t, outer.Namespace, "put the namespace in spec/, where it reaches the function")
			assert.Empty(t, outer.Patches, "overlays patch the spec, never the generated objects")
			assert.Empty(t, outer.Labels, "labels go on the spec, which copies them everywhere")
			assert.Empty(t, outer.Replicas, "replicas come from the spec, with the ConfigMap and PDB")

			spec := readKustomization(t, filepath.Join(dir, "spec", "kustomization.yaml"))
			assert.Empty(t, spec.Generators, "spec/ outputs the RqliteSpec itself")
			for _, p := range spec.Patches {
				require.NotNil(t, p.Target, "every spec patch targets the RqliteSpec by kind")
				assert.Equal(t, "RqliteSpec", p.Target.Kind)
			}
		})
	}
}
