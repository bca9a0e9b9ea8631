package generate_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func claim(t *testing.T, where, doc string) generate.Claim {
	t.Helper()
	res := generate.FromYAML([]byte(doc))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	return generate.Claim{Namespace: res.Spec.Metadata.Namespace, Name: res.Spec.Metadata.Name, Where: where, Objects: generate.Refs(res.Objects)}
}

func named(name, namespace, spec string) string {
	return "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: " + name + "\n  namespace: " + namespace + "\n" + spec
}

func TestCollisions(t *testing.T) {
	db := claim(t, "a.yaml", named("db", "prod", "spec:\n  readOnly:\n    replicas: 2\n"))
	dbReadonly := claim(t, "b.yaml", named("db-readonly", "prod", ""))
	elsewhere := claim(t, "c.yaml", named("db-readonly", "test", ""))
	again := claim(t, "d.yaml", named("db", "prod", ""))

	assert.Empty(t, generate.Collisions([]generate.Claim{db, elsewhere}), "another namespace is another cluster")
	assert.Empty(t, generate.Collisions([]generate.Claim{dbReadonly, elsewhere}))

	got := generate.Collisions([]generate.Claim{db, dbReadonly})
	require.Len(t, got, 1, "one problem per pair of specs, not one per object")
	assert.Equal(t, 1, got[0].Index, "reported on the later spec")
	assert.Equal(t, "metadata.name", got[0].Problem.Path)
	assert.Contains(t, got[0].Problem.Message, "RqliteSpec prod/db (a.yaml)")
	assert.Contains(t, got[0].Problem.Message, "StatefulSet prod/db-readonly")

	got = generate.Collisions([]generate.Claim{db, dbReadonly, again})
	require.Len(t, got, 2)
	assert.Equal(t, 2, got[1].Index)
	assert.Equal(t, "RqliteSpec prod/db (a.yaml) defines this cluster too: only one of them could win", got[1].Problem.Message)
}

// Objects are the same object to the API server whatever the version of their group.
func TestCollisionsCompareGroupsNotVersions(t *testing.T) {
	a := generate.Claim{Name: "a", Objects: []generate.Ref{{APIVersion: "policy/v1", Kind: "PodDisruptionBudget", Namespace: "ns", Name: "x"}}}
	b := generate.Claim{Name: "b", Objects: []generate.Ref{{APIVersion: "policy/v1beta1", Kind: "PodDisruptionBudget", Namespace: "ns", Name: "x"}}}
	c := generate.Claim{Name: "c", Objects: []generate.Ref{{APIVersion: "v1", Kind: "PodDisruptionBudget", Namespace: "ns", Name: "x"}}}
	got := generate.Collisions([]generate.Claim{a, b, c})
	require.Len(t, got, 1, "the core group is another group: %v", got)
	assert.Equal(t, 1, got[0].Index)
}

// Each annotation field of a spec may hold what the API server accepts, but an object that
// combines two must fit too: the spec's metadata.annotations go on the client Service with
// spec.service.annotations.
func TestCombinedAnnotationsMustFitTheObject(t *testing.T) {
	half := strings.Repeat("x", 150<<10)
	doc := named("db", "prod", "spec:\n  service:\n    annotations:\n      b: "+half+"\n")
	doc = strings.Replace(doc, "  namespace: prod\n", "  namespace: prod\n  annotations:\n    a: "+half+"\n", 1)
	res := generate.FromYAML([]byte(doc))
	require.True(t, res.Problems.HasErrors())
	assert.Nil(t, res.Objects)
	require.NotEmpty(t, res.Problems)
	for _, p := range res.Problems {
		assert.Equal(t, "metadata.annotations", p.Path)
		assert.Contains(t, p.Message, "Service db")
	}
}
