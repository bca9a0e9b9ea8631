package v1alpha1_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// FuzzDecode feeds Decode documents with duplicate keys and aliases. Whatever the input it must
// not panic, and it must refuse every document in which go-yaml's strict mode (the parser under
// sigs.k8s.io/yaml, which kubectl uses) finds a key twice, and every document with an alias:
// what Decode accepts converts to the same JSON strictly and leniently, so nothing was hidden.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("../../../testdata/specs/*.yaml")
	bad, _ := filepath.Glob("../../../testdata/bad/*.yaml")
	for _, p := range append(files, bad...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		header + "spec:\n  voters: {replicas: 3, replicas: 1}\n",
		header + "  labels: {yes: a, true: b}\n",
		header + "  labels: {1: a, 0x1: b, \"1\": c}\n",
		header + "spec:\n  voters: &v {replicas: 3}\n  readOnly: *v\n",
		header + "spec:\n  voters: &v {replicas: 3}\n  readOnly:\n    <<: *v\n",
		header + "spec:\n  voters:\n    ? replicas\n    : 3\n    ? replicas\n    : 1\n",
		header + "spec:\n  voters:\n    replicas: 3\n  voters:\n    replicas: 1\n",
		header + "  annotations: {\"a\": x, 'a': y}\n",
		header + "  annotations: {a: &x [*x]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 64<<10 {
			return // the size limit has its own test; large inputs only slow the search down
		}
		spec, ps := v1alpha1.Decode(doc)
		if spec == nil && !ps.HasErrors() {
			t.Fatalf("no spec and no error: %v", ps)
		}
		if ps.HasErrors() {
			return
		}
		strict, err := sigsyaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Fatalf("accepted, but strict YAML finds: %v", err)
		}
		lenient, err := sigsyaml.YAMLToJSON(doc)
		if err != nil || string(strict) != string(lenient) {
			t.Fatalf("accepted, but the conversions differ: %s / %s (%v)", strict, lenient, err)
		}
		var n yaml.Node
		if yaml.Unmarshal(doc, &n) == nil && hasAlias(&n) {
			t.Fatal("accepted a document with an alias")
		}
	})
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}
