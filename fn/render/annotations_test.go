package render_test

import (
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
)

// The spec's own annotations go on every object, except those that describe the spec object
// (orchestrators, tools, the function): an Argo CD hook or sync wave on the spec must not make
// the StatefulSet a hook or reorder the cluster, a Helm annotation not hand it to a release.
func TestSpecAnnotationsPropagation(t *testing.T) {
	res := generate.FromYAML([]byte(`apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: db
  annotations:
    team: orders
    example.com/cost-center: "42"
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/sync-wave: "5"
    helm.sh/resource-policy: keep
    meta.helm.sh/release-name: rqlite
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    config.kubernetes.io/local-config: "true"
    internal.config.kubernetes.io/path: rqlite.yaml
    config.k8s.io/function: "exec: {path: rqlite-fn}"
    kpt.dev/config-injection: enabled
    rqlite.io/generated-from: other
spec:
  voters: {replicas: 3}
`))
	if res.Problems.HasErrors() {
		t.Fatal(res.Problems)
	}
	for _, o := range res.Objects {
		a := o.GetAnnotations()
		if a["team"] != "orders" || a["example.com/cost-center"] != "42" {
			t.Errorf("%s %s: the user's annotations are missing: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), a)
		}
		if a["rqlite.io/generated-from"] != "rqlite" {
			t.Errorf("%s %s: owner annotation %q, want rqlite", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), a["rqlite.io/generated-from"])
		}
		shrink := o.GetLabels()["app.kubernetes.io/component"] == "shrink"
		for _, k := range []string{"argocd.argoproj.io/hook", "argocd.argoproj.io/sync-wave"} {
			if _, ok := a[k]; ok && !shrink {
				t.Errorf("%s %s carries %s from the spec", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), k)
			}
		}
		if shrink && a["argocd.argoproj.io/sync-wave"] == "5" {
			t.Errorf("%s %s: the shrink objects keep their own wave, got %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), a)
		}
		for _, k := range []string{"helm.sh/resource-policy", "meta.helm.sh/release-name", "kubectl.kubernetes.io/last-applied-configuration",
			"config.kubernetes.io/local-config", "internal.config.kubernetes.io/path", "config.k8s.io/function", "kpt.dev/config-injection"} {
			if _, ok := a[k]; ok {
				t.Errorf("%s %s carries %s from the spec", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), k)
			}
		}
	}
}
