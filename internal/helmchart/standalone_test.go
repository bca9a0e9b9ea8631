package helmchart_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoGoFileReadsBesideTheRepository keeps the repository standing alone: a clone with nothing
// beside it must pass every test, so no Go file may name the team's data directory beside the
// checkout (the team's shared data, as a path or as path elements). The patterns are assembled so that this
// file does not match them itself.
func TestNoGoFileReadsBesideTheRepository(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	dir := "sha" + "red"
	patterns := []string{
		"../" + dir, `"..", "` + dir + `"`, `"` + dir + `", "reference"`, dir + "/reference", "/work/" + dir,
	}
	var files int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, p := range patterns {
			if strings.Contains(string(b), p) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s names a directory beside the repository (%q); tests carry their own fixtures (internal/helmchart)", rel, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, files, 100, "the walk reached the repository's Go files")
}
