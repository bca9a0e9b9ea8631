package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/krm"
	"github.com/rqlite/rqlite-krm/fn/render"
	"sigs.k8s.io/yaml"
)

// The speed-ups that the benchmarks motivated must not change a byte of output. These tests pin
// each fast path to the straightforward code it replaced, on every spec under testdata/specs.

// TestEncodeMatchesSigsYAML: render.Encode writes with go-yaml v2 directly instead of through
// sigs.k8s.io/yaml's JSON round trip.
func TestEncodeMatchesSigsYAML(t *testing.T) {
	for _, path := range specFiles(t) {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res := generate.FromYAML(doc)
		if res.Problems.HasErrors() {
			t.Fatalf("%s: %v", path, res.Problems)
		}
		for _, o := range res.Objects {
			got, err := render.Encode(o)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceEncode(t, o); string(got) != want {
				t.Errorf("%s: %s %s encodes differently:\n--- got\n%s\n--- want\n%s", path, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), got, want)
			}
		}
	}
}

// referenceEncode is the encoding as first written: JSON, drop status and nulls, sigs.k8s.io/yaml.
func referenceEncode(t *testing.T, o render.Object) string {
	t.Helper()
	j, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		if vcts, ok := spec["volumeClaimTemplates"].([]any); ok {
			for _, v := range vcts {
				delete(v.(map[string]any), "status")
			}
		}
	}
	var prune func(v any)
	prune = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if e == nil {
					delete(x, k)
				} else {
					prune(e)
				}
			}
		case []any:
			for _, e := range x {
				prune(e)
			}
		}
	}
	prune(m)
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestToYAMLMatchesSDK: krm.ToYAML encodes items one at a time instead of the whole
// ResourceList in one go.
func TestToYAMLMatchesSDK(t *testing.T) {
	inputs := map[string][]byte{
		"kustomize":  kustomizeResourceList(t),
		"kpt-1":      resourceList(1),
		"kpt-25":     resourceList(25),
		"with-extra": append(resourceList(2), "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: unrelated # kept\n    annotations:\n      internal.config.kubernetes.io/path: other.yaml\n  data:\n    long: "+strings.Repeat("word ", 40)+"\n    script: |\n      set -e\n\n      echo done\n"...),
		"invalid":    []byte(strings.Replace(string(resourceList(2)), "replicas: 3", "replicas: 0", 1)),
	}
	for _, path := range specFiles(t) {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(path)] = []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  " +
			strings.ReplaceAll(strings.TrimRight(string(doc), "\n"), "\n", "\n  ") + "\n")
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			ours, sdk := parseList(t, in), parseList(t, in)
			okOurs, _ := krm.Process(ours)
			okSDK, _ := krm.Process(sdk)
			if okOurs != okSDK {
				t.Fatalf("Process is not deterministic: %v vs %v", okOurs, okSDK)
			}
			got, err := krm.ToYAML(ours)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sdk.ToYAML()
			if err != nil {
				t.Fatal(err)
			}
			if len(sdk.Items) == 0 {
				want = append(want, "items: []\n"...)
			}
			if string(got) != string(want) {
				t.Errorf("ToYAML differs from the SDK's encoding:\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func parseList(t *testing.T, in []byte) *fn.ResourceList {
	t.Helper()
	rl, err := fn.ParseResourceList(in)
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

func specFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdata, "specs", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no specs under %s/specs: %v", testdata, err)
	}
	return paths
}
