package render_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	yaml2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slowItem is what the SDK wrote for a generated object: go-yaml v2's document, parsed by go-yaml
// v3, the annotations appended, written by go-yaml v3 as an element of `items:` (fn/krm's slow
// path does the same).
func slowItem(t *testing.T, o render.Object, extra []render.Annotation) string {
	t.Helper()
	tree, err := render.Tree(o)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := yaml2.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		t.Fatal(err)
	}
	obj := n.Content[0]
	for _, a := range extra {
		anns := lookupTest(lookupTest(obj, "metadata"), "annotations")
		anns.Content = append(anns.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: a.Key}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: a.Value})
	}
	list := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "items"}, {Kind: yaml.SequenceNode, Content: []*yaml.Node{obj}}}}
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	e.CompactSeqIndent()
	if err := e.Encode(list); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(b.String(), "items:\n")
}

func lookupTest(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	panic("no " + key)
}

func fastItem(t *testing.T, o render.Object, extra []render.Annotation) (string, bool) {
	t.Helper()
	tree, err := render.Tree(o)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := render.AppendItem(nil, tree, extra)
	return string(b), ok
}

// fastDocument and slowDocument: the document form against go-yaml v2 itself.
func fastDocument(t *testing.T, o render.Object) (string, bool) {
	t.Helper()
	tree, err := render.Tree(o)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := render.AppendDocument(nil, tree)
	return string(b), ok
}

func slowDocument(t *testing.T, o render.Object) string {
	t.Helper()
	tree, err := render.Tree(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml2.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var kptExtra = []render.Annotation{
	{"internal.config.kubernetes.io/path", "dir/x.generated.yaml"}, {"config.kubernetes.io/path", "dir/x.generated.yaml"},
	{"internal.config.kubernetes.io/index", "12"}, {"config.kubernetes.io/index", "12"},
}

// Every object generated from the example specs must take the fast path (or the speed-up is
// gone) and come out as the slow path writes it.
func TestFastItemCoversGeneratedObjects(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/specs/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no specs under testdata/specs")
	}
	for _, p := range paths {
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		res := generate.FromYAML(doc)
		if res.Problems.HasErrors() {
			t.Fatalf("%s: %v", p, res.Problems)
		}
		for _, o := range res.Objects {
			if got, ok := fastDocument(t, o); !ok {
				t.Errorf("%s: %s %s takes the slow path as a document", filepath.Base(p), o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
			} else if want := slowDocument(t, o); got != want {
				t.Errorf("%s: %s %s as a document:\n--- fast\n%s\n--- go-yaml v2\n%s", filepath.Base(p), o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), got, want)
			}
			for _, extra := range [][]render.Annotation{nil, kptExtra} {
				got, ok := fastItem(t, o, extra)
				if !ok {
					t.Errorf("%s: %s %s takes the slow path", filepath.Base(p), o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
					continue
				}
				if want := slowItem(t, o, extra); got != want {
					t.Errorf("%s: %s %s:\n--- fast\n%s\n--- slow\n%s", filepath.Base(p), o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), got, want)
				}
			}
		}
	}
}

// Strings of every kind in a ConfigMap's data, keys and annotations: wherever the fast writer
// accepts an object, its bytes must be the slow path's.
func TestFastItemMatchesSlowPath(t *testing.T) {
	values := []string{
		"", " ", "a", "y", "Yes", "NO", "on", "true", "False", "null", "~", "3", "-1", "0.5", "1e5", "1_000",
		"0x1F", "0o17", "0b101", "1:20", "2001-12-14", "1Gi", "500m", "10.0.0.1", "-", "-a", "a-", ":a", "a:",
		"a: b", "a #b", "#a", "a#b", "*a", "&a", "!a", "|a", ">a", "%a", "@a", "`a", "'a", "\"a", "a'b", "a\"b",
		"a\\b", "[a]", "{a}", "a,b", "?a", "a?", "a b", "a  b", " a", "a ", "tab\there", "\ta",
		"line\nline", "line\nline\n", "line\n\nline\n", "\nline", " line\nline", "line \nline", "line\n\n",
		"line\n", "x\n  indented\nx", "$(POD_NAME).svc:4001", "-http-adv-addr=$(POD_NAME).x.svc:4001",
		"ümlaut", "a\u00a0b", "\x01", "peers.json", "metadata.labels['x']", "=", "a=b", "<<", ".inf", ".nan",
		strings.Repeat("word ", 20), strings.Repeat("x", 120), strings.Repeat("a: ", 30),
		"echo " + strings.Repeat("long ", 15) + "\necho short\n",
	}
	values = append(values, "10Gi", "250m", "1E", "1e", "1Ei", "0m", "007s", "12h", "1x", "0x10", "-c", "--x", "---x",
		"-.inf", "--1", "a:", "a:b", "/a:", "a#", "a'", "a\"", "no", "No", "nO", "off", "ON", "Null", "TRUE")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab19 :-#'\"\n.{}[],&*!|>%@`?=$()/_\t\\+~")
	for range 400 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		values = append(values, string(b))
	}
	// Strings that start like the ones obviouslyPlain decides on its own.
	for _, start := range []string{"a", "Z", "/", "-a", "--a", "1", "-", "--"} {
		for range 100 {
			b := []byte(start)
			for range rng.IntN(10) {
				b = append(b, alphabet[rng.IntN(len(alphabet))])
			}
			values = append(values, string(b))
		}
	}
	fast := 0
	for i, v := range values {
		for _, keyed := range []bool{false, true} {
			cm := &corev1.ConfigMap{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Name: "cm", Annotations: map[string]string{"a": v}},
				Data:       map[string]string{"k": v, "z": "after"},
			}
			if keyed && v != "" {
				cm.Data = map[string]string{v: "value", "k": "v"}
				cm.Labels = map[string]string{"l": v}
			}
			if got, ok := fastDocument(t, cm); ok {
				if want := slowDocument(t, cm); got != want {
					t.Errorf("value %d %q (as key: %v), document:\n--- fast\n%s\n--- go-yaml v2\n%s", i, v, keyed, got, want)
				}
			}
			got, ok := fastItem(t, cm, kptExtra)
			if !ok {
				continue
			}
			fast++
			if want := slowItem(t, cm, kptExtra); got != want {
				t.Errorf("value %d %q (as key: %v):\n--- fast\n%s\n--- slow\n%s", i, v, keyed, got, want)
			}
		}
	}
	if fast < len(values) {
		t.Errorf("only %d of %d cases took the fast path; the test no longer tests much", fast, 2*len(values))
	}
}

// keyLess must compare keys as go-yaml v2 does, which render.Encode and so the SDK's output follow.
// Pairs, not whole sets: with digit runs the order is not transitive ("1Z" < "9" < "12" < "1Z"),
// and go-yaml's own output for such a set depends on map iteration order. Generated objects have
// no such keys.
func TestKeyLessIsGoYAMLOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("aZ09-./_ü10")
	word := func() string {
		r := make([]rune, 1+rng.IntN(6))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	for range 2000 {
		a, b := word(), word()
		if a == b {
			continue
		}
		out, err := yaml2.Marshal(map[string]int{a: 0, b: 0})
		if err != nil {
			t.Fatal(err)
		}
		var ms yaml2.MapSlice
		if err := yaml2.Unmarshal(out, &ms); err != nil {
			t.Fatal(err)
		}
		if first := fmt.Sprint(ms[0].Key); render.KeyLess(a, b) != (first == a) {
			t.Fatalf("render.KeyLess(%q, %q) = %v, go-yaml writes %q first", a, b, render.KeyLess(a, b), first)
		}
	}
}
