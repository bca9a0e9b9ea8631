package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The committed table is what the generator writes from the pinned rqlite source today: a bump of
// hack/tools/rqlited without `go generate ./fn/api/v1alpha1` fails here.
func TestCommittedTableIsFresh(t *testing.T) {
	want, err := generateFromModule()
	require.NoError(t, err)
	root, err := repoRoot()
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, "fn", "api", "v1alpha1", "rqlited_flags.go"))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go generate ./fn/api/v1alpha1")
}

// Registrations the generator does not understand are errors, never a shorter table.
func TestParseFlagsRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"unknown kind":    `fs.Float64Var(&c.X, "x", 0, "usage")`,
		"computed name":   `fs.BoolVar(&c.X, name, false, "usage")`,
		"wrong arguments": `fs.BoolVar(&c.X, "x")`,
		"no flags":        `_ = 1`,
	} {
		p := filepath.Join(dir, "f.go")
		require.NoError(t, os.WriteFile(p, []byte("package main\nfunc f() {\n"+src+"\n}\n"), 0o644))
		_, err := parseFlags(p)
		assert.Error(t, err, name)
	}
	p := filepath.Join(dir, "ok.go")
	require.NoError(t, os.WriteFile(p, []byte("package main\nfunc f() {\n"+
		`fs.BoolVar(&c.A, "a", false, "u")`+"\n"+`// fs.StringVar(&c.B, "b", "", "commented out: not a flag")`+"\n"+
		`fs.DurationVar(&c.C, "c", d, "u")`+"\n}\n"), 0o644))
	flags, err := parseFlags(p)
	require.NoError(t, err)
	assert.Equal(t, []Flag{{"a", "FlagBool"}, {"c", "FlagDuration"}}, flags)
}
