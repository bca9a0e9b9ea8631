package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
)

// Two keys are the same when the JSON conversion makes them the same, whatever their spelling:
// YAML 1.1 (what sigs.k8s.io/yaml reads) turns yes, on and 0x1 into true, true and 1.
func TestDuplicateKeysAsTheJSONConversionSeesThem(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		dup  bool
	}{
		{"team", "team", true},
		{"team", `"team"`, true},
		{"team", "'team'", true},
		{"team", "!!str team", true},
		{"1", `"1"`, true},
		{"1", "0x1", true},
		{"yes", "true", true},
		{"on", "yes", true},
		{"team", "Team", false},
		{"1", "01x", false},
		{"a.b/c", "a.b/c ", true}, // trailing spaces are not part of a plain scalar
	} {
		doc := header + "  labels:\n    " + tc.a + ": x\n    " + tc.b + ": y\n"
		_, ps := v1alpha1.Decode([]byte(doc))
		var dup bool
		for _, p := range ps {
			dup = dup || strings.HasPrefix(p.Message, "duplicate key")
		}
		assert.Equal(t, tc.dup, dup, "%s and %s: %v", tc.a, tc.b, ps)
	}
}

// A problem of the YAML itself carries the line it is on, relative to the document.
func TestYAMLProblemsHaveLines(t *testing.T) {
	_, ps := v1alpha1.Decode([]byte(header + "spec:\n  voters:\n    replicas: 3\n    replicas: 1\n"))
	require.Len(t, ps, 1)
	assert.Equal(t, "spec.voters.replicas", ps[0].Path)
	assert.Equal(t, 9, ps[0].Line)

	_, ps = v1alpha1.Decode([]byte(header + "spec:\n  voters: &v {replicas: 3}\n  readOnly: *v\n"))
	require.Len(t, ps, 1)
	assert.Equal(t, "spec.readOnly", ps[0].Path)
	assert.Equal(t, 8, ps[0].Line)
}

func TestSpecSizeLimit(t *testing.T) {
	fits := header + "  annotations:\n    a: " + strings.Repeat("x", 200<<10) + "\n"
	_, ps := v1alpha1.Decode([]byte(fits))
	assert.Empty(t, ps)

	big := header + "  annotations:\n    a: " + strings.Repeat("x", v1alpha1.MaxSpecBytes) + "\n"
	s, ps := v1alpha1.Decode([]byte(big))
	assert.Nil(t, s)
	require.Len(t, ps, 1)
	assert.Equal(t, "", ps[0].Path)
	assert.Equal(t, "the spec is larger than 4 MiB, the limit for one spec", ps[0].Message)
}

// The annotation limit is the API server's: a map the API server accepts is accepted, one byte
// more is refused, with the field path.
func TestAnnotationSizeLimitIsTheAPIServers(t *testing.T) {
	assert.Equal(t, apivalidation.TotalAnnotationSizeLimitB, v1alpha1.MaxAnnotationBytes)
	for _, path := range []string{"metadata.annotations", "spec.voters.podAnnotations", "spec.readOnly.podAnnotations", "spec.service.annotations", "spec.serviceAccount.annotations"} {
		for _, size := range []int{v1alpha1.MaxAnnotationBytes, v1alpha1.MaxAnnotationBytes + 1} {
			m := map[string]string{"a": strings.Repeat("x", size-1)}
			apiErr := apivalidation.ValidateAnnotationsSize(m)
			doc := header + nested(path, "a: "+m["a"])
			_, ps := v1alpha1.Decode([]byte(doc))
			var found bool
			for _, p := range ps {
				found = found || p.Path == path && strings.Contains(p.Message, "256 KiB")
			}
			assert.Equal(t, apiErr != nil, found, "%s with %d bytes: API server %v, Decode %v", path, size, apiErr, ps)
		}
	}
}

// nested writes "a.b.c" and a line as YAML under the header's metadata (for metadata.*) or a new
// spec.
func nested(path, line string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	indent := ""
	if parts[0] == "metadata" {
		indent = "  "
		parts = parts[1:]
	}
	for _, p := range parts {
		b.WriteString(indent + p + ":\n")
		indent += "  "
	}
	b.WriteString(indent + line + "\n")
	return b.String()
}

// An anchor that nothing refers to expands to nothing: it is accepted.
func TestAnchorWithoutAliasIsAccepted(t *testing.T) {
	s, ps := v1alpha1.Decode([]byte(header + "spec:\n  voters: &v\n    replicas: 3\n"))
	assert.Empty(t, ps)
	require.NotNil(t, s)
	assert.Equal(t, int32(3), *s.Spec.Voters.Replicas)
}
