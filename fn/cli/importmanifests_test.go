package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImportManifestsExitCodes(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "manifests", "guide")
	svc, sts := filepath.Join(dir, "service.yaml"), filepath.Join(dir, "statefulset-3-node.yaml")
	stsBytes, err := os.ReadFile(sts)
	require.NoError(t, err)
	ordered := strings.Replace(string(stsBytes), "podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady", 1)
	pinned := strings.Replace(string(stsBytes), "image: rqlite/rqlite\n", "image: docker.io/rqlite/rqlite:9.1.3\n", 1)
	pinned = strings.Replace(pinned, "storageClassName: standard", "storageClassName: fast", 1)
	refused := strings.Replace(string(stsBytes), "        - -join-attempts=120\n", "        - -join-attempts=120\n        - -raft-snapp=10\n", 1)
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		stdout   bool
		stderrIn []string
	}{
		{"the guide's manifests", []string{svc, sts, "-n", "guide"}, "", 3, true, []string{"kept         StatefulSet/rqlite spec.selector", "BEFORE YOU APPLY THE RENDER (2):"}},
		{"pinned image, another class", []string{"-", "-n", "guide"}, pinned, 0, true, []string{"mapped       StatefulSet/rqlite spec.template spec.containers[rqlite] image -> spec.image", "0 action(s) required"}},
		{"immutable conflict", []string{"-", "-n", "guide"}, ordered, 1, false, []string{"conflict     StatefulSet/rqlite spec.podManagementPolicy", "no spec written"}},
		{"flag rqlited does not have", []string{"-", "-n", "guide"}, refused, 1, false, []string{"[error] spec.voters.extraArgs", "no spec written"}},
		{"missing namespace", []string{svc, sts}, "", 2, false, []string{"namespace is required"}},
		{"no file", []string{"-n", "guide"}, "", 2, false, []string{"no manifest file"}},
		{"bad report format", []string{sts, "-n", "guide", "--report", "xml"}, "", 2, false, []string{"--report takes text or json"}},
		{"missing file", []string{"/nonexistent.yaml", "-n", "guide"}, "", 1, false, []string{"no such file"}},
		{"not YAML", []string{"-", "-n", "guide"}, "kind: [\n", 1, false, []string{"document 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(append([]string{"import-manifests"}, tc.args...), strings.NewReader(tc.stdin), &out, &errOut)
			assert.Equal(t, tc.code, code, "stderr:\n%s", errOut.String())
			for _, s := range tc.stderrIn {
				assert.Contains(t, errOut.String(), s)
			}
			if !tc.stdout {
				assert.Empty(t, out.String())
				return
			}
			res := generate.FromYAML(out.Bytes())
			assert.False(t, res.Problems.HasErrors(), "the written spec renders: %v", res.Problems)
		})
	}
}
