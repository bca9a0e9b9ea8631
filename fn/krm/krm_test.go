package krm_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/krm"
)

const specItem = `- apiVersion: rqlite.io/v1alpha1
  kind: RqliteSpec
  metadata:
    name: rqlite
    annotations:
      config.kubernetes.io/local-config: "true"
      internal.config.kubernetes.io/path: rqlite.yaml
      config.kubernetes.io/path: rqlite.yaml
  spec:
    voters:
      replicas: %s
`

func parse(t *testing.T, s string) *krm.ResourceList {
	t.Helper()
	rl, err := krm.ParseResourceList([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

func packageList(replicas, functionConfig string) string {
	return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" +
		strings.Replace(specItem, "%s", replicas, 1) + functionConfig
}

// `kpt fn eval DIR --exec rqlite-fn` without --fn-config sends an empty ConfigMap named
// function-input; it must mean "use the specs in the package", not "wrong function config".
func TestKptEvalPlaceholderFunctionConfigIsIgnored(t *testing.T) {
	rl := parse(t, packageList("3", "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data: {}\n"))
	if ok := krm.Process(rl); !ok {
		t.Fatalf("results=%v", rl.Results)
	}
	if len(rl.Items) < 8 {
		t.Errorf("want the spec and generated objects, got %d items", len(rl.Items))
	}
	for _, it := range rl.Items[1:] {
		if got := it.PathAnnotation(); got != "rqlite.generated.yaml" {
			t.Errorf("%s %s written to %q, want next to the spec", it.Kind(), it.Name(), got)
		}
	}
}

// Arguments after `--` arrive as data of that ConfigMap; the function takes none, so they must
// still be refused rather than silently ignored.
func TestKptEvalArgumentsAreRefused(t *testing.T) {
	rl := parse(t, packageList("3", "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data: {replicas: \"5\"}\n"))
	ok := krm.Process(rl)
	if ok || len(rl.Items) != 0 {
		t.Fatalf("ok=%v items=%d", ok, len(rl.Items))
	}
	if !strings.Contains(rl.Results[0].Message, `function config ConfigMap "function-input" is not an RqliteSpec`) {
		t.Errorf("results: %v", rl.Results)
	}
}

// A failed run clears the items; kpt reads a ResourceList without an items key as a single
// resource and reports "resource must have metadata.name" instead of the results.
func TestToYAMLKeepsEmptyItems(t *testing.T) {
	rl := parse(t, packageList("0", ""))
	if ok := krm.Process(rl); ok {
		t.Fatal("0 voters must fail")
	}
	out, err := krm.ToYAML(rl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nitems: []\n") {
		t.Fatalf("no empty items list:\n%s", out)
	}
	back := parse(t, string(out))
	if len(back.Items) != 0 || len(back.Results) == 0 || !strings.Contains(back.Results[0].Message, "0 voters cannot form a cluster") {
		t.Errorf("round trip lost the results: %+v", back.Results)
	}

	ok := parse(t, packageList("3", ""))
	if !krm.Process(ok) {
		t.Fatal(ok.Results)
	}
	a, _ := krm.ToYAML(ok)
	b, _ := ok.Encode()
	if string(a) != string(b) {
		t.Error("with items, ToYAML must be the SDK's encoding unchanged")
	}
}

// kpt feeds the previous render's output back in; the second run must replace, not duplicate,
// and produce the same bytes.
func TestSecondRunIsIdempotent(t *testing.T) {
	rl := parse(t, packageList("3", ""))
	if !krm.Process(rl) {
		t.Fatal(rl.Results)
	}
	// kpt passes the items back, not the previous results
	rl.Results = nil
	first, err := krm.ToYAML(rl)
	if err != nil {
		t.Fatal(err)
	}
	again := parse(t, string(first))
	if !krm.Process(again) {
		t.Fatal(again.Results)
	}
	again.Results = nil
	second, _ := krm.ToYAML(again)
	if string(first) != string(second) {
		t.Errorf("second run changed the output:\n--- first\n%s\n--- second\n%s", first, second)
	}
}

// kustomize hands the spec over with its own bookkeeping annotations (function declaration,
// local-config, rename history); none of them may reach the generated objects, or the objects
// would be dropped as local-config or carry kustomize internals into the cluster.
func TestKustomizeAnnotationsDoNotLeak(t *testing.T) {
	fc := `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: team-rqlite
  namespace: db
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: rqlite-fn
    config.kubernetes.io/local-config: "true"
    internal.config.kubernetes.io/prefixes: team-
    internal.config.kubernetes.io/previousNames: rqlite,rqlite
    internal.config.kubernetes.io/previousNamespaces: default,db
    internal.config.kubernetes.io/previousKinds: RqliteSpec,RqliteSpec
    example.com/owner: dba
spec:
  voters:
    replicas: 3
`
	item := "- " + strings.ReplaceAll(strings.TrimRight(fc, "\n"), "\n", "\n  ") + "\n"
	rl := parse(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"+item+
		"functionConfig:\n  "+strings.ReplaceAll(strings.TrimRight(fc, "\n"), "\n", "\n  ")+"\n")
	if ok := krm.Process(rl); !ok {
		t.Fatalf("results=%v", rl.Results)
	}
	specs := 0
	for _, it := range rl.Items {
		if it.Kind() == "RqliteSpec" {
			specs++
			continue
		}
		anns := it.Annotations()
		if v := anns["rqlite.io/generated-from"]; v != "team-rqlite" {
			t.Errorf("%s %s generated-from %q", it.Kind(), it.Name(), v)
		}
		for k := range anns {
			switch {
			case k == "config.kubernetes.io/function", k == "config.kubernetes.io/local-config",
				strings.HasPrefix(k, "internal.config.kubernetes.io/"):
				t.Errorf("%s %s carries the spec's tool annotation %s", it.Kind(), it.Name(), k)
			}
		}
		if it.Namespace() != "db" {
			t.Errorf("%s %s in namespace %q", it.Kind(), it.Name(), it.Namespace())
		}
	}
	if specs != 1 {
		t.Errorf("the spec repeated in items must be kept once (kustomize drops it as local-config), got %d", specs)
	}
}

// Moving a package's spec to another namespace must replace what it generated before: the old
// objects sit in the same file as the new ones, and kpt refuses a render in which two objects
// claim one file and index ("resource at path … and index … already exists").
func TestNamespaceChangeReplacesOldObjects(t *testing.T) {
	old := `- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: rqlite-config
    annotations:
      rqlite.io/generated-from: rqlite
      internal.config.kubernetes.io/path: rqlite.generated.yaml
      internal.config.kubernetes.io/index: "1"
  data: {voters: "3"}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: unrelated
    annotations:
      rqlite.io/generated-from: rqlite
      internal.config.kubernetes.io/path: other.yaml
`
	spec := strings.Replace(strings.Replace(specItem, "%s", "3", 1), "    name: rqlite\n", "    name: rqlite\n    namespace: db\n", 1)
	rl := parse(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"+spec+old)
	if !krm.Process(rl) {
		t.Fatalf("results=%v", rl.Results)
	}
	seen := map[string]bool{}
	for _, it := range rl.Items {
		if it.Kind() == "RqliteSpec" {
			continue
		}
		key := it.PathAnnotation() + "#" + it.Annotation("internal.config.kubernetes.io/index")
		if seen[key] {
			t.Errorf("two objects claim %s", key)
		}
		seen[key] = true
		if it.Namespace() != "db" && it.Name() != "unrelated" {
			t.Errorf("%s %s left behind in namespace %q", it.Kind(), it.Name(), it.Namespace())
		}
	}
	if !seen["other.yaml#"] {
		t.Error("an object in another file is not this spec's output and must stay")
	}
}
