package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const spec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: db
  annotations:
    config.kubernetes.io/local-config: "true"
spec:
  voters:
    replicas: 3
  readOnly:
    replicas: 2
`

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func parse(t *testing.T, out string) *fn.ResourceList {
	t.Helper()
	rl, err := fn.ParseResourceList([]byte(out))
	require.NoError(t, err)
	return rl
}

func kinds(rl *fn.ResourceList) map[string]int {
	k := map[string]int{}
	for _, it := range rl.Items {
		k[it.GetKind()]++
	}
	return k
}

// As a kustomize generator: the spec arrives as functionConfig and again among the items.
func TestKRMKustomizeGenerator(t *testing.T) {
	in := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n" + indent(spec) + "items:\n- " + strings.TrimPrefix(indent(spec), "  ")
	code, out, stderr := run(t, in)
	require.Equal(t, 0, code, stderr)
	rl := parse(t, out)
	assert.Equal(t, map[string]int{
		"RqliteSpec": 1, "ServiceAccount": 2, "ConfigMap": 1, "Service": 4, "StatefulSet": 2,
		"PodDisruptionBudget": 2, "NetworkPolicy": 2, "Role": 1, "RoleBinding": 1, "Job": 1,
	}, kinds(rl), "the repeated functionConfig must not generate the cluster twice")
}

// Under kpt: the spec is an item of the package; a second run over the first run's output must
// change nothing (upsert, no duplicates) and generated objects land in a file beside the spec.
func TestKRMKptUpsertIsIdempotent(t *testing.T) {
	item := strings.Replace(spec, "    config.kubernetes.io/local-config: \"true\"\n",
		"    config.kubernetes.io/local-config: \"true\"\n    internal.config.kubernetes.io/path: db/rqlite.yaml\n", 1)
	in := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- " + strings.TrimPrefix(indent(item), "  ") +
		"- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: unrelated\n  data:\n    a: b\n"
	code, first, stderr := run(t, in)
	require.Equal(t, 0, code, stderr)
	rl := parse(t, first)
	assert.Equal(t, 2, kinds(rl)["ConfigMap"], "the unrelated ConfigMap is kept")
	for _, it := range rl.Items {
		if it.GetAnnotation("rqlite.io/generated-from") != "" {
			assert.Equal(t, "db/rqlite.generated.yaml", it.GetAnnotation("internal.config.kubernetes.io/path"))
		}
	}
	code, second, stderr := run(t, first)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, first, second, "a second render must change nothing")

	// Removing the read-only pool from the spec removes its objects on the next render.
	shrunk := strings.Replace(second, "    readOnly:\n      replicas: 2\n", "", 1)
	require.NotEqual(t, second, shrunk)
	code, third, stderr := run(t, shrunk)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, kinds(parse(t, third))["StatefulSet"])
	assert.NotContains(t, third, "rqlite-readonly")
}

func TestKRMWarnsWhenSpecIsNotLocalConfig(t *testing.T) {
	plain := strings.Replace(spec, "  annotations:\n    config.kubernetes.io/local-config: \"true\"\n", "", 1)
	code, out, stderr := run(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- "+strings.TrimPrefix(indent(plain), "  "))
	require.Equal(t, 0, code)
	assert.Contains(t, stderr, "local-config")
	rl := parse(t, out)
	require.Len(t, rl.Results, 1)
	assert.Equal(t, fn.Warning, rl.Results[0].Severity)
}

// Bad input: an error result with the field path and the fix, exit 1, and no objects at all.
func TestKRMInvalidSpecRendersNothing(t *testing.T) {
	bad := strings.Replace(spec, "replicas: 3", "replicas: 0", 1)
	bad = strings.Replace(bad, "  readOnly:\n", "  storage:\n    sise: 1Gi\n  readOnly:\n", 1)
	in := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n" + indent(bad) + "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: other\n"
	code, out, stderr := run(t, in)
	assert.Equal(t, 1, code)
	rl := parse(t, out)
	assert.Empty(t, rl.Items, "no half-rendered output")
	paths := map[string]string{}
	for _, r := range rl.Results {
		require.Equal(t, fn.Error, r.Severity)
		require.NotNil(t, r.Field)
		paths[r.Field.Path] = r.Message
		assert.Equal(t, "rqlite", r.ResourceRef.Name)
	}
	assert.Contains(t, paths, "spec.voters.replicas")
	assert.Contains(t, paths["spec.storage.sise"], `did you mean "size"?`)
	assert.Contains(t, stderr, "spec.voters.replicas")
}

func TestKRMWithoutSpecFails(t *testing.T) {
	code, out, _ := run(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "no RqliteSpec found")

	code, out, _ = run(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cfg\nitems: []\n")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "is not an RqliteSpec")
}

func TestKRMRejectsGarbage(t *testing.T) {
	code, out, stderr := run(t, "this is not a resource list")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "rqlite-fn render FILE")
}

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(spec), 0o644))
	code, out, stderr := run(t, "", "render", good)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 16, strings.Count(out, "---\n"), "objects of a 3+2 cluster and its shrink Job")
	assert.NotContains(t, out, "local-config", "the spec's tool annotations stay on the spec")

	// Two specs in one stream render two clusters.
	two := filepath.Join(dir, "two.yaml")
	require.NoError(t, os.WriteFile(two, []byte(spec+"---\n"+strings.Replace(spec, "name: rqlite", "name: other", 1)), 0o644))
	code, out, _ = run(t, "", "render", two)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "name: other-headless")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(spec, "replicas: 2", "replicas: -2", 1)), 0o644))
	code, out, stderr = run(t, "", "render", good, bad)
	assert.Equal(t, 1, code)
	assert.Empty(t, out, "nothing is printed unless every spec is valid")
	assert.Contains(t, stderr, "spec.readOnly.replicas")

	code, out, _ = run(t, spec, "render", "-")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "kind: StatefulSet")

	code, _, stderr = run(t, "", "render", filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "missing.yaml")
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := run(t, "", "rendr")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown command "rendr"`)
	assert.Contains(t, stderr, "render")
}
