package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zeros is an endless input, like /dev/zero or a runaway pipe.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func runReader(stdin *zeros, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Main(args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

// Inputs are bounded while they are read: an endless one fails once the limit is passed instead
// of filling memory.
func TestEndlessInputFails(t *testing.T) {
	code, out, stderr := run(t, "", "render", "/dev/zero")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "rqlite-fn: /dev/zero is larger than 64 MiB, the limit for one input")

	code, out, stderr = runReader(&zeros{}, "render", "-")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "rqlite-fn: stdin is larger than 64 MiB")

	code, out, stderr = runReader(&zeros{})
	assert.Equal(t, 1, code, "KRM mode")
	assert.Empty(t, out)
	assert.Contains(t, stderr, "rqlite-fn: stdin is larger than 64 MiB")

	// A file known to be too large is refused without reading it.
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, nil, 0o644))
	require.NoError(t, os.Truncate(big, 65<<20))
	code, _, stderr = run(t, "", "render", big)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "big.yaml is larger than 64 MiB")
}

// A spec larger than 4 MiB (a 5 MiB annotation, say) is refused before it is decoded, in both
// modes.
func TestOversizedSpecIsRefused(t *testing.T) {
	doc := strings.Replace(spec, "  annotations:\n", "  annotations:\n    big: "+strings.Repeat("x", 5<<20)+"\n", 1)
	code, out, stderr := run(t, doc, "render", "-")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "-: document 1: [error] : the spec is larger than 4 MiB, the limit for one spec (keep large data out of the spec)")

	code, out, stderr = run(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n"+indent(doc))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "[error] rqlite.io/v1alpha1/RqliteSpec/db/rqlite: the spec is larger than 4 MiB")
	assert.NotContains(t, out, "kind: StatefulSet")
}

// Specs for the same cluster in two files, or the same file given twice, would render the
// cluster twice.
func TestRenderRefusesCollisionsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte(spec), 0o644))
	require.NoError(t, os.WriteFile(b, []byte(strings.Replace(spec, "replicas: 3", "replicas: 5", 1)), 0o644))
	for _, args := range [][]string{{a, b}, {a, a}} {
		code, out, stderr := run(t, "", append([]string{"render"}, args...)...)
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Contains(t, stderr, args[1]+": document 1: [error] metadata.name: RqliteSpec db/rqlite ("+a+", document 1) defines this cluster too")
	}
}

// An empty input beside good ones still fails the whole render: the user meant a spec there.
func TestRenderRefusesAnEmptyInputAmongOthers(t *testing.T) {
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(good, []byte(spec), 0o644))
	require.NoError(t, os.WriteFile(empty, []byte("# TODO\n---\n"), 0o644))
	code, out, stderr := run(t, "", "render", good, empty)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, empty+": [error] no RqliteSpec")
}

// Lines of YAML problems are the file's, not the document's.
func TestRenderReportsFileLines(t *testing.T) {
	doc := "# first\n---\n" + spec + "---\n" + strings.Replace(spec, "    replicas: 3\n", "    replicas: 3\n    replicas: 1\n", 1)
	code, _, stderr := run(t, doc, "render", "-")
	assert.Equal(t, 1, code)
	// 2 lines before the first spec, its 12 and a separator: the second spec starts on line 16,
	// and its 11th line repeats the key.
	require.Equal(t, 12, strings.Count(spec, "\n"))
	assert.Contains(t, stderr, "-: document 2, line 26: [error] spec.voters.replicas: duplicate key")
}

// The README states the limits; they must be the ones enforced.
func TestREADMEStatesTheLimits(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, n := range []int{v1alpha1.MaxSpecBytes, v1alpha1.MaxInputBytes, v1alpha1.MaxAnnotationBytes} {
		assert.Contains(t, string(readme), "**"+v1alpha1.FormatBytes(n)+"**")
	}
}
