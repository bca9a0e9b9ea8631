package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/helmimport"
	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runImport(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append([]string{"import-helm"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestImportHelmExitCodes(t *testing.T) {
	// The chart's values cases (internal/helmchart) as files, as a user passes them.
	dir := t.TempDir()
	abs := func(name string) string {
		c := helmchart.Lookup(name)
		p := filepath.Join(dir, c.ValuesFile)
		require.NoError(t, os.WriteFile(p, []byte(c.Values), 0o644))
		return p
	}
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		stdout   bool     // a spec is written
		stderrIn []string // the report or message says so
	}{
		{"clean import", []string{abs("three-voters"), "--namespace", "db"}, "", 0, true, []string{"mapped       replicaCount -> spec.voters.replicas", "0 unsupported; 0 action(s) required"}},
		{"values that need a decision", []string{abs("fullfeatures"), "-n=db"}, "", 3, true, []string{"unsupported  ingress", "BEFORE YOU APPLY THE RENDER (12):"}},
		{"unknown values key", []string{"-", "--namespace=db"}, "replicaCount: 3\nreplicas: 5\n", 3, true, []string{"unsupported  replicas", "not a value of the rqlite chart 2.0.0"}},
		{"missing namespace", []string{abs("three-voters")}, "", 2, false, []string{"--namespace is required", "fully qualified Raft addresses"}},
		{"no values file", []string{"--namespace", "db"}, "", 2, false, []string{"no values file"}},
		{"unknown flag", []string{abs("three-voters"), "--namespace", "db", "--set", "x=1"}, "", 2, false, []string{`unknown flag "--set"`}},
		{"bad report format", []string{abs("three-voters"), "--namespace", "db", "--report", "xml"}, "", 2, false, []string{"--report takes text or json"}},
		{"missing file", []string{"/nonexistent/values.yaml", "--namespace", "db"}, "", 1, false, []string{"no such file"}},
		{"not YAML", []string{"-", "--namespace", "db"}, "replicaCount: [\n", 1, false, []string{"values file 1"}},
		{"bad release name", []string{abs("three-voters"), "--namespace", "db", "--release", "Prod_DB"}, "", 1, false, []string{"not a Helm release name"}},
		{"spec the function refuses", []string{"-", "--namespace", "db"}, "image: {tag: latest}\n", 1, false, []string{"[error] spec.image", "no spec written"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runImport(t, tc.stdin, tc.args...)
			assert.Equal(t, tc.code, code, "stderr:\n%s", errOut)
			for _, s := range tc.stderrIn {
				assert.Contains(t, errOut, s)
			}
			if !tc.stdout {
				assert.Empty(t, out)
				return
			}
			require.NotEmpty(t, out)
			if code != 1 {
				res := generate.FromYAML([]byte(out))
				assert.False(t, res.Problems.HasErrors(), "the written spec renders: %v", res.Problems)
			}
		})
	}
}

func TestImportHelmJSONReport(t *testing.T) {
	code, out, errOut := runImport(t, "replicaCount: 3\nreadonly: {replicaCount: 2}\ningress: {enabled: true}\n", "-", "--namespace", "db", "--release", "prod", "--report", "json")
	require.Equal(t, 3, code, errOut)
	var rep helmimport.Report
	require.NoError(t, json.Unmarshal([]byte(errOut), &rep), "stderr is exactly one JSON report")
	assert.Equal(t, "prod", rep.Release)
	assert.Equal(t, "prod-rqlite", rep.Name)
	e, ok := rep.Entry("ingress")
	require.True(t, ok)
	assert.Equal(t, helmimport.Unsupported, e.Status)
	assert.Contains(t, e.Action, "Service prod-rqlite")
	assert.Contains(t, out, "helmRelease: prod\n")
}

// TestImportHelmSchemaComment points editors at the schema when it is where the spec is written
// from (a checkout of this repository), and writes no dangling reference otherwise.
func TestImportHelmSchemaComment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, out, _ := runImport(t, "replicaCount: 3\n", "-", "--namespace", "db")
	assert.NotContains(t, out, "yaml-language-server")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "schema"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, schemaFile), []byte("{}"), 0o644))
	_, out, _ = runImport(t, "replicaCount: 3\n", "-", "--namespace", "db")
	assert.True(t, strings.HasPrefix(out, "# yaml-language-server: $schema=schema/rqlitespec.schema.json\n"), out)
}

func TestImportHelmHelp(t *testing.T) {
	code, out, _ := runImport(t, "", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "usage: rqlite-fn import-helm")
	var buf bytes.Buffer
	usage(&buf)
	assert.Contains(t, buf.String(), "import-helm")
}
