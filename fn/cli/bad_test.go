package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badDir holds the hostile-input table: one input per case, <case>.yaml, and what the function
// answers to it, <case>.want (written by `make golden`, reviewed like code). A case is a stream of
// spec documents, run as `rqlite-fn render <case>.yaml`, as `rqlite-fn render -` and in KRM mode
// (one document as the functionConfig with kustomize's copy among the items, several as the items
// of a package); or, when it is a ResourceList, only in KRM mode. The schema tests (fn/schema) run
// the single-spec cases through the JSON Schema and the API server as well.
const badDir = "../../testdata/bad"

func TestGoldenBadInputs(t *testing.T) {
	dir, err := filepath.Abs(badDir)
	require.NoError(t, err)
	cases, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cases), 60, "the hostile-input table is missing")
	// Messages name the file as given on the command line: run from the table's directory so that
	// they name it without a machine's path.
	t.Chdir(dir)
	for _, path := range cases {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			in, err := os.ReadFile(path)
			require.NoError(t, err)
			var report bytes.Buffer
			list := isResourceList(in)
			if !list {
				code, out, stderr := run(t, "", "render", name)
				assert.NotEqual(t, 0, code, "a bad input must fail")
				assert.Empty(t, out, "a failed render prints nothing")
				writeRun(&report, "rqlite-fn render "+name, code, stderr, out)

				// stdin is the same input under another name.
				code2, out2, stderr2 := run(t, string(in), "render", "-")
				assert.Equal(t, code, code2, "render -")
				assert.Equal(t, out, out2, "render -")
				assert.Equal(t, strings.ReplaceAll(stderr, name, "-"), stderr2, "render - says what render FILE says")
				in = asResourceList(in)
			}
			code, out, stderr := run(t, string(in))
			assert.NotEqual(t, 0, code, "a bad input must fail in KRM mode")
			assert.NotContains(t, out, "\n- apiVersion", "a failed KRM run returns no items")
			what := "rqlite-fn < " + name
			if !list {
				what = "rqlite-fn < (" + name + " as a ResourceList)"
			}
			writeRun(&report, what, code, stderr, out)
			golden.Assert(t, strings.TrimSuffix(path, ".yaml")+".want", report.Bytes())
		})
	}
	wants, err := filepath.Glob(filepath.Join(dir, "*.want"))
	require.NoError(t, err)
	for _, w := range wants {
		_, err := os.Stat(strings.TrimSuffix(w, ".want") + ".yaml")
		assert.NoError(t, err, "%s has no case: delete it", filepath.Base(w))
	}
}

func writeRun(w *bytes.Buffer, what string, code int, stderr, stdout string) {
	fmt.Fprintf(w, "$ %s\nexit %d\n--- stderr\n%s--- stdout\n%s\n", what, code, stderr, stdout)
}

func isResourceList(in []byte) bool {
	for _, l := range strings.Split(string(in), "\n") {
		if l == "kind: ResourceList" {
			return true
		}
	}
	return false
}

// asResourceList wraps a spec stream as orchestrators pass it, keeping its text as it is
// (duplicate keys, aliases, comments): one document as kustomize passes a generator (the
// functionConfig, and the same object among the items), several as the items of a kpt package.
func asResourceList(in []byte) []byte {
	var docs []string
	var cur []string
	flush := func() {
		if d := strings.Join(cur, "\n"); strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
		cur = nil
	}
	for _, l := range strings.Split(strings.TrimRight(string(in), "\n"), "\n") {
		if strings.TrimSpace(l) == "---" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	out := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
	if len(docs) == 1 {
		out += "functionConfig:\n" + indent(docs[0])
	}
	if len(docs) > 0 {
		out += "items:\n"
	}
	for _, d := range docs {
		out += "- " + strings.TrimPrefix(indent(d), "  ")
	}
	return []byte(out)
}

func stripComments(d string) string {
	var b strings.Builder
	for _, l := range strings.Split(d, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
