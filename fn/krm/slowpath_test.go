package krm

import (
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/render"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An object the fast writer refuses (a line go-yaml would fold, a null in a list, non-ASCII) goes
// through slowNode and must still come out as the SDK wrote it, path and index annotations
// included.
func TestSlowPathMatchesSDK(t *testing.T) {
	long := strings.Repeat("word ", 30)
	objs := []render.Object{
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "long", Annotations: map[string]string{"note": long}},
			Data:       map[string]string{"long": long, "ümlaut": "ä"},
		},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "no-annotations"},
			Data:       map[string]string{"k": long},
		},
	}
	spec := &Object{node: mustParse(t, "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: x\n  annotations:\n    internal.config.kubernetes.io/path: dir/x.yaml\n")}
	got, err := toObjects(objs, specSource{obj: spec, fromItems: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range got {
		if o.node == nil {
			t.Fatalf("%s took the fast path; the test needs objects it refuses", o.Name())
		}
	}
	out, err := (&ResourceList{Items: got}).Encode()
	if err != nil {
		t.Fatal(err)
	}

	sdk := &fn.ResourceList{}
	for i, o := range objs {
		b, err := render.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		ko, err := fn.ParseKubeObject(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{pathAnnotation, legacyPathAnnotation} {
			_ = ko.SetAnnotation(a, "dir/x.generated.yaml")
		}
		_ = ko.SetAnnotation(indexAnnotation, string(rune('0'+i)))
		_ = ko.SetAnnotation(legacyIndexAnnotation, string(rune('0'+i)))
		sdk.Items = append(sdk.Items, ko)
	}
	want, err := sdk.ToYAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(want) {
		t.Errorf("slow path:\n%s\nSDK:\n%s", out, want)
	}
}

func mustParse(t *testing.T, s string) *yaml.Node {
	t.Helper()
	rl, err := ParseResourceList([]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return rl.Items[0].node
}
