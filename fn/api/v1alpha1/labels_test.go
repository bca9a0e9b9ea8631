package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
)

// Every label key the render sets is refused in metadata.labels and in podLabels alike, with the
// field path; other app.kubernetes.io labels (part-of) are the user's.
func TestReservedLabels(t *testing.T) {
	for _, key := range v1alpha1.ReservedLabels {
		for _, tc := range []struct{ doc, path string }{
			{"apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  labels:\n    " + key + ": x\n", "metadata.labels." + key},
			{header + "spec:\n  readOnly:\n    podLabels:\n      " + key + ": x\n", "spec.readOnly.podLabels." + key},
		} {
			ps := check(tc.doc)
			found := false
			for _, p := range ps {
				found = found || (p.Path == tc.path && !p.Warning && strings.Contains(p.Message, "reserved"))
			}
			if !found {
				t.Errorf("%s: want an error at %s, got %v", key, tc.path, ps)
			}
		}
	}
	ok := header + "  labels:\n    app.kubernetes.io/part-of: shop\n    team: orders\nspec:\n  voters:\n    podLabels:\n      app.kubernetes.io/part-of: shop\n"
	if ps := check(ok); ps.HasErrors() {
		t.Errorf("labels that are not the function's must pass: %v", ps)
	}
}

// The annotations that stay on the spec: those of Kubernetes, its tools, orchestrators and the
// function itself; everything else is the user's and goes on every object.
func TestSpecOnlyAnnotation(t *testing.T) {
	for key, specOnly := range map[string]bool{
		"argocd.argoproj.io/hook":                          true,
		"argocd.argoproj.io/sync-wave":                     true,
		"argocd.argoproj.io/compare-options":               true,
		"helm.sh/resource-policy":                          true,
		"meta.helm.sh/release-name":                        true,
		"config.kubernetes.io/local-config":                true,
		"config.kubernetes.io/depends-on":                  true,
		"internal.config.kubernetes.io/path":               true,
		"kubectl.kubernetes.io/last-applied-configuration": true,
		"config.k8s.io/function":                           true,
		"kustomize.config.k8s.io/needs-hash":               true,
		"kpt.dev/config-injection":                         true,
		"kustomize.toolkit.fluxcd.io/reconcile":            true,
		"kapp.k14s.io/change-group":                        true,
		"rqlite.io/generated-from":                         true,
		"description":                                      false,
		"example.com/team":                                 false,
		"prometheus.io/scrape":                             false,
		"notkubernetes.io/x":                               false,
	} {
		if got := v1alpha1.SpecOnlyAnnotation(key); got != specOnly {
			t.Errorf("SpecOnlyAnnotation(%q) = %v, want %v", key, got, specOnly)
		}
	}
}

// An orchestrator annotation the user put on the spec gets a warning saying it stays there; the
// ones kustomize and kpt add to every spec do not.
func TestSpecOnlyAnnotationWarning(t *testing.T) {
	doc := "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\n  annotations:\n" +
		"    argocd.argoproj.io/sync-wave: \"5\"\n    config.kubernetes.io/local-config: \"true\"\n    internal.config.kubernetes.io/path: rqlite.yaml\n    team: orders\n"
	var warned []string
	for _, p := range check(doc) {
		if p.Warning && strings.HasPrefix(p.Path, "metadata.annotations.") {
			warned = append(warned, p.Path)
		}
	}
	if strings.Join(warned, ",") != "metadata.annotations.argocd.argoproj.io/sync-wave" {
		t.Errorf("warnings at %v, want only the Argo CD sync wave", warned)
	}
}
