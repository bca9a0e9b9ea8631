package generate_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
)

// FuzzFromYAML feeds arbitrary documents through the whole pipeline. Whatever the input, the
// function must not panic, must either render or report an error (never both, never neither), and
// must render the same bytes twice.
func FuzzFromYAML(f *testing.F) {
	specs, _ := filepath.Glob(filepath.Join(testdata, "specs", "*.yaml"))
	bad, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	for _, s := range append(specs, bad...) {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(header + "spec:\n  voters:\n    replicas: 2147483647\n"))
	f.Add([]byte(header + "spec:\n  readOnly:\n    autoscaling: {minReplicas: 1, maxReplicas: 1}\n"))
	f.Add([]byte("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata: {name: a}\nspec: {storage: {size: 1e400}}\n"))
	f.Add([]byte("~"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res := generate.FromYAML(doc)
		if res.Problems.HasErrors() {
			if res.Objects != nil {
				t.Fatalf("objects rendered despite errors: %v", res.Problems)
			}
			return
		}
		if len(res.Objects) == 0 {
			t.Fatal("no errors and no objects")
		}
		first, err := render.EncodeAll(res.Objects)
		if err != nil {
			t.Fatalf("valid spec failed to encode: %v", err)
		}
		again, err := render.EncodeAll(generate.FromYAML(doc).Objects)
		if err != nil || string(first) != string(again) {
			t.Fatalf("non-deterministic render (err=%v)", err)
		}
	})
}
