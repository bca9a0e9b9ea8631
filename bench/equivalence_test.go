package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
	forEachSpecObject(t, func(path string, o render.Object) {
		got, err := render.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceEncode(t, o); string(got) != want {
			t.Errorf("%s: %s %s encodes differently:\n--- got\n%s\n--- want\n%s", path, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), got, want)
		}
	})
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

// TestToYAMLMatchesSDK: the binary reads, processes and writes ResourceLists without the kpt
// functions SDK (fn/krm), and writes generated objects without go-yaml. The same input through the
// SDK-based glue it replaced (sdk_reference_test.go) must give the same bytes, the same exit
// decision and the same messages.
func TestToYAMLMatchesSDK(t *testing.T) {
	for name, in := range equivalenceInputs(t) {
		t.Run(name, func(t *testing.T) {
			ours, err := krm.ParseResourceList(in)
			if err != nil {
				t.Fatal(err)
			}
			sdk := parseList(t, in)
			okOurs := krm.Process(ours)
			okSDK, _ := sdkProcess(sdk)
			if okOurs != okSDK {
				t.Fatalf("ok: %v, SDK %v", okOurs, okSDK)
			}
			got, err := krm.ToYAML(ours)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sdkToYAML(sdk)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("ToYAML differs from the SDK's encoding:\n%s", firstDifference(string(got), string(want)))
			}
			var sdkMessages []string
			for _, r := range sdk.Results {
				sdkMessages = append(sdkMessages, r.String())
			}
			var ourMessages []string
			for _, r := range ours.Results {
				ourMessages = append(ourMessages, r.String())
			}
			if strings.Join(ourMessages, "\n") != strings.Join(sdkMessages, "\n") {
				t.Errorf("messages differ:\n%q\n%q", ourMessages, sdkMessages)
			}
			if okOurs {
				// kpt feeds the output back in: the second run must match too.
				again, err := krm.ParseResourceList(got)
				if err != nil {
					t.Fatal(err)
				}
				sdkAgain := parseList(t, want)
				krm.Process(again)
				_, _ = sdkProcess(sdkAgain)
				got2, _ := krm.ToYAML(again)
				want2, _ := sdkToYAML(sdkAgain)
				if string(got2) != string(want2) {
					t.Errorf("second run differs from the SDK's:\n%s", firstDifference(string(got2), string(want2)))
				}
			}
		})
	}
}

// equivalenceInputs: what kustomize and kpt send, every spec under testdata/specs as a generator
// and as a package item, items the function must pass through untouched (comments, anchors,
// quoting, long lines, block scalars), earlier results and a failing spec.
func equivalenceInputs(t *testing.T) map[string][]byte {
	t.Helper()
	inputs := map[string][]byte{
		"kustomize":  kustomizeResourceList(t),
		"kpt-1":      resourceList(1),
		"kpt-25":     resourceList(25),
		"with-extra": append(resourceList(2), passThrough...),
		"invalid":    []byte(strings.Replace(string(resourceList(2)), "replicas: 3", "replicas: 0", 1)),
		"results-in": append(resourceList(1), "results:\n- message: from an earlier function\n  severity: info\n  tags: {a: b}\n"...),
		"empty":      []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"),
		"commented":  []byte("# head\napiVersion: config.kubernetes.io/v1\nkind: ResourceList # kind\nitems:\n" + passThrough + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: function-input}\n  data: {}\n"),
	}
	for _, path := range specFiles(t) {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		indented := strings.ReplaceAll(strings.TrimRight(string(doc), "\n"), "\n", "\n  ")
		inputs[filepath.Base(path)] = []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  " + indented + "\n")
		// As a package item with a file (kpt): the generated objects get path and index annotations.
		item := strings.Replace(indented, "\n  metadata:\n", "\n  metadata:\n    annotations:\n      internal.config.kubernetes.io/path: dir/"+filepath.Base(path)+"\n", 1)
		if strings.Count(item, "annotations:") > 1 {
			continue // the spec has annotations of its own; the generator form covers it
		}
		inputs["kpt-"+filepath.Base(path)] = []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- " + item + "\n" + passThrough)
	}
	return inputs
}

// passThrough are items the function does not own, in shapes the SDK's parser and writer keep.
const passThrough = `- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: unrelated # kept
    annotations:
      internal.config.kubernetes.io/path: other.yaml
  data:
    long: word word word word word word word word word word word word word word word word word word word word
    quoted: "yes"
    single: 'it''s'
    script: |
      set -e

      echo done
    folded: >
      folded text
    anchor: &a value
    alias: *a
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: flow, labels: {app: x}}
  spec:
    replicas: 1
    template:
      spec:
        containers:
          - name: wide-sequence
            args: ["a", 'b', c]
`

// firstDifference shows where two outputs part, with a little context.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			from := max(0, i-3)
			return fmt.Sprintf("line %d:\n--- got\n%s\n--- want\n%s", i+1, strings.Join(g[from:min(len(g), i+3)], "\n"), strings.Join(w[from:min(len(w), i+3)], "\n"))
		}
	}
	return "(equal)"
}

func parseList(t *testing.T, in []byte) *fn.ResourceList {
	t.Helper()
	rl, err := fn.ParseResourceList(in)
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// forEachSpecObject renders every spec under testdata/specs and calls f with each object.
func forEachSpecObject(t *testing.T, f func(path string, o render.Object)) {
	t.Helper()
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
			f(path, o)
		}
	}
}

func specFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdata, "specs", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no specs under %s/specs: %v", testdata, err)
	}
	return paths
}

// TestTreeMatchesJSONDecoder: render.Tree reads json.Marshal's output with its own decoder instead
// of encoding/json's Decoder with UseNumber and a pass that drops nulls and converts numbers.
func TestTreeMatchesJSONDecoder(t *testing.T) {
	forEachSpecObject(t, func(path string, o render.Object) {
		got, err := render.Tree(o)
		if err != nil {
			t.Fatal(err)
		}
		want := referenceTree(t, o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s %s: trees differ:\n%#v\n%#v", path, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), got, want)
		}
	})
}

// referenceTree is render.Tree as first written.
func referenceTree(t *testing.T, o render.Object) map[string]any {
	t.Helper()
	j, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
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
	var prune func(v any) any
	prune = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i
			}
			if f, err := x.Float64(); err == nil {
				return f
			}
			return string(x)
		case map[string]any:
			for k, e := range x {
				if e == nil {
					delete(x, k)
				} else {
					x[k] = prune(e)
				}
			}
		case []any:
			for i, e := range x {
				x[i] = prune(e)
			}
		}
		return v
	}
	prune(m)
	return m
}

// TestParseResourceListMatchesSDK: fn/krm reads ResourceLists without the SDK; odd inputs must be
// accepted or refused as the SDK does, with the same items and function config.
func TestParseResourceListMatchesSDK(t *testing.T) {
	const head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
	for _, in := range []string{
		"", "\n\n", "# only a comment\n", head, "---\n" + head, head + "---\n", head + "---\n" + head,
		head + "items:\n", head + "items: []\n", head + "items: {}\n", head + "items: [1]\n", head + "items:\n- a: b\n",
		head + "functionConfig:\n", head + "functionConfig: {}\n", head + "functionConfig: []\n", head + "functionConfig: x\n",
		head + "functionConfig:\n  kind: ConfigMap\n", head + "results:\n", head + "results: []\n",
		head + "results:\n  items:\n  - message: m\n", head + "results:\n- message: m\n  severity: warning\n",
		"apiVersion: v1\nkind: ConfigMap\n", "kind: ResourceList\n", "- a\n", "just text\n", "{", head + "items: [\n",
	} {
		ours, err := krm.ParseResourceList([]byte(in))
		sdk, sdkErr := fn.ParseResourceList([]byte(in))
		if (err == nil) != (sdkErr == nil) {
			t.Errorf("%q: error %v, SDK %v", in, err, sdkErr)
			continue
		}
		if err != nil {
			continue
		}
		if len(ours.Items) != len(sdk.Items) || len(ours.Results) != len(sdk.Results) ||
			(ours.FunctionConfig != nil) != (sdk.FunctionConfig != nil && !sdk.FunctionConfig.IsEmpty()) {
			t.Errorf("%q: %d items, %d results, functionConfig %v; SDK %d, %d, %v", in, len(ours.Items), len(ours.Results),
				ours.FunctionConfig != nil, len(sdk.Items), len(sdk.Results), sdk.FunctionConfig != nil && !sdk.FunctionConfig.IsEmpty())
		}
	}
}
