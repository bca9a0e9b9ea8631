// Package golden compares test output with reviewed files under testdata/. The files change only
// when a developer asks for it with -update (make golden), so every change to rendered output
// shows up in review as a diff of the golden file.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Update rewrites golden files instead of comparing against them.
var Update = flag.Bool("update", false, "rewrite golden files under testdata/ instead of comparing")

// Assert compares got with the golden file at path (or rewrites it under -update).
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run `make golden` and review the diff")
	require.Equal(t, string(want), string(got), "output differs from %s: if the change is intended, run `make golden` and review the diff", path)
}
