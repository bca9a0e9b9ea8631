package schema

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	published "github.com/rqlite/rqlite-krm/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// TestOpenAPIOnAPIServer installs the OpenAPI form as a CustomResourceDefinition on a real
// kube-apiserver, which refuses any schema that is not structural, then asks it (dry run, strict
// field validation) to accept every example spec and to judge the single-spec cases of testdata/bad
// exactly as the JSON Schema does.
func TestOpenAPIOnAPIServer(t *testing.T) {
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var openAPI map[string]any
	require.NoError(t, yaml.Unmarshal(published.OpenAPI, &openAPI))
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "rqlitespecs.rqlite.io"},
		"spec": map[string]any{
			"group": "rqlite.io",
			"scope": "Namespaced",
			"names": map[string]any{"plural": "rqlitespecs", "singular": "rqlitespec", "kind": "RqliteSpec", "listKind": "RqliteSpecList"},
			"versions": []any{map[string]any{
				"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": openAPI},
			}},
		},
	}}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_, err := cp.Dynamic().Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{})
	require.NoError(t, err, "the API server refuses the OpenAPI form as a CRD schema")
	require.Eventually(t, func() bool {
		got, err := cp.Dynamic().Resource(crdGVR).Get(ctx, "rqlitespecs.rqlite.io", metav1.GetOptions{})
		if err != nil {
			return false
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		established := false
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "NonStructuralSchema" && m["status"] == "True" {
				t.Fatalf("the schema is not structural: %v", m["message"])
			}
			established = established || m["type"] == "Established" && m["status"] == "True"
		}
		return established
	}, time.Minute, 200*time.Millisecond)

	gvr := schema.GroupVersionResource{Group: "rqlite.io", Version: "v1alpha1", Resource: "rqlitespecs"}
	namespaces := map[string]bool{}
	dryRun := func(doc []byte) error {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: obj}
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		if !namespaces[ns] {
			_, err := cp.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				namespaces[ns] = true
			}
		}
		_, err := cp.Dynamic().Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		return err
	}

	dir := t.TempDir()
	for _, f := range append(specFiles(t), overlayPatches(t, dir)...) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NoError(t, dryRun(b), "%s", f)
	}
	for i, b := range readBadSpecs(t) {
		verdict := schemaVerdicts[b.name]
		if verdict == unparsable || verdict == "" {
			continue // nothing to send; TestSchemaWithIndependentValidator reports unclassified rows
		}
		err := dryRun([]byte(b.doc))
		if verdict == rejected || verdict == objectMeta {
			assert.Error(t, err, "row %d %q: the API server accepts it", i, b.name)
		} else {
			assert.NoError(t, err, "row %d %q: "+strconv.Quote(verdict), i, b.name)
		}
	}
}
