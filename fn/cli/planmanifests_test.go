package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlanManifests: from the guide's manifests to the spec import-manifests writes for them, the
// plan is the rolling update and nothing breaking (golden); to a spec with the default naming it
// is breaking, since that would start a second cluster beside the first.
func TestPlanManifests(t *testing.T) {
	td := filepath.Join("..", "..", "testdata")
	manifests := []string{filepath.Join(td, "manifests", "guide", "service.yaml"), filepath.Join(td, "manifests", "guide", "statefulset-3-node.yaml")}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(append([]string{"plan", "--manifests"}, args...), strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run(append(manifests, filepath.Join(td, "manifests", "guide.spec.yaml"))...)
	require.Equal(t, planSafe, code, errOut)
	golden.Assert(t, filepath.Join(td, "plan", "guide-adoption.txt"), []byte(out))
	assert.Contains(t, out, "rolling-restart: StatefulSet guide/rqlite")
	assert.Contains(t, out, "keeps spec.podManagementPolicy, spec.selector, spec.serviceName, spec.volumeClaimTemplates")

	spec, err := os.ReadFile(filepath.Join(td, "manifests", "guide.spec.yaml"))
	require.NoError(t, err)
	def := filepath.Join(t.TempDir(), "default.yaml")
	require.NoError(t, os.WriteFile(def, bytes.Replace(spec, []byte("naming: kubernetes-configuration"), []byte("naming: default"), 1), 0o644))
	code, out, errOut = run(append(manifests, def)...)
	assert.Equal(t, planBreaking, code, errOut)
	assert.Contains(t, out, "immutable")
	assert.NotContains(t, out, "updated in place")

	code, _, errOut = run(def)
	assert.Equal(t, planUsage, code)
	assert.Contains(t, errOut, "--manifests takes MANIFEST... SPEC")
}
