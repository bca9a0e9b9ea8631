package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\n"

// check decodes, defaults and validates like the pipeline does.
func check(doc string) v1alpha1.Problems {
	s, ps := v1alpha1.Decode([]byte(doc))
	if s == nil {
		return ps
	}
	return append(ps, v1alpha1.Validate(v1alpha1.Default(s))...)
}

// The table of bad specs (what each is refused with: field path, message, fix) is testdata/bad,
// run through the CLI in render and KRM mode by fn/cli's TestBadInputs.

func TestAllProblemsAtOnce(t *testing.T) {
	ps := check(header + "spec:\n  voters:\n    replicas: 0\n  storage:\n    size: \"0\"\n  imagePullPolicy: Sometimes\n")
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	assert.ElementsMatch(t, []string{"spec.voters.replicas", "spec.storage.size", "spec.imagePullPolicy"}, paths)

	ps = check(header + "spec:\n  voter: 1\n  storag: {}\n  voters:\n    replicas: 0\n")
	require.Len(t, ps, 3, "unknown fields are all reported, not just the first, and validation still runs: %v", ps)
}

func TestWarningsDoNotBlock(t *testing.T) {
	for _, tc := range []struct{ doc, path string }{
		{header + "spec:\n  voters:\n    replicas: 4\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 2\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 1\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 11\n", "spec.voters.replicas"},
		{header[:len(header)-len("  namespace: db\n")] + "spec:\n  voters:\n    replicas: 3\n", "metadata.namespace"},
	} {
		ps := check(tc.doc)
		require.False(t, ps.HasErrors(), "%v", ps)
		require.Len(t, ps, 1)
		assert.True(t, ps[0].Warning)
		assert.Equal(t, tc.path, ps[0].Path)
	}
	assert.Empty(t, check(header+"spec:\n  voters:\n    replicas: 3\n"))
	assert.Empty(t, check(header), "a spec with only a name and namespace is complete")
	assert.Empty(t, check(strings.Replace(header, "  namespace: db\n", "", 1)+"spec:\n  shrink:\n    enabled: false\n"),
		"without the shrink Job there is no RoleBinding that needs the namespace")
}

func TestDefaultsAreCareful(t *testing.T) {
	s, ps := v1alpha1.Decode([]byte(header))
	require.Empty(t, ps)
	d := v1alpha1.Default(s)
	assert.Equal(t, int32(3), *d.Spec.Voters.Replicas)
	assert.Equal(t, v1alpha1.DefaultImage, d.Spec.Image)
	assert.Equal(t, "10Gi", d.Spec.Storage.Size.String())
	assert.Equal(t, "Retain", d.Spec.Storage.RetentionPolicy.WhenScaled)
	assert.Nil(t, d.Spec.ReadOnly)
	assert.True(t, *d.Spec.NetworkPolicy.Enabled)
	// Default never mutates its input.
	assert.Nil(t, s.Spec.Voters.Replicas)

	// A user memory limit below the default request lowers the request instead of producing an
	// invalid pair; a user request above the default limit raises the limit.
	s, ps = v1alpha1.Decode([]byte(header + "spec:\n  voters:\n    resources:\n      limits:\n        memory: 128Mi\n      requests:\n        ephemeral-storage: 2Gi\n"))
	require.Empty(t, ps)
	d = v1alpha1.Default(s)
	r := d.Spec.Voters.Resources
	assert.Equal(t, "128Mi", r.Requests.Memory().String())
	assert.Equal(t, "2Gi", r.Limits.StorageEphemeral().String())
	assert.False(t, v1alpha1.Validate(d).HasErrors(), "%v", v1alpha1.Validate(d))
}

// Image references that pin a release are accepted in every form registries use: a digest (with
// or without a tag), a registry with a port, an IPv6 registry, a tag with capitals.
func TestPinnedImageReferences(t *testing.T) {
	sha := "sha256:" + strings.Repeat("0f", 32)
	for _, image := range []string{
		"rqlite/rqlite@" + sha, "rqlite/rqlite:latest@" + sha, "reg.example.com:5000/team/rqlite:9.1.3",
		"[::1]:5000/rqlite:9", "localhost/rqlite:V9_RC-1", "ghcr.io/org/sub/rqlite:9.1.3@" + sha,
	} {
		for _, p := range check(header + "spec:\n  image: \"" + image + "\"\n") {
			if p.Path == "spec.image" {
				t.Errorf("%s: %v", image, p)
			}
		}
	}
}
