package generate_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/stretchr/testify/require"
)

// TestREADMEExamplesRender keeps the README true: every RqliteSpec shown there renders without
// errors.
func TestREADMEExamplesRender(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	n := 0
	for _, blk := range blocks {
		doc := blk[1]
		if !regexp.MustCompile(`(?m)^kind: RqliteSpec$`).MatchString(doc) {
			continue
		}
		n++
		res := generate.FromYAML([]byte(doc))
		require.False(t, res.Problems.HasErrors(), "README example %d does not render: %v\n%s", n, res.Problems, doc)
	}
	require.GreaterOrEqual(t, n, 2, "the README's spec examples were not found")
}
