package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
)

// The labels the function sets on every object and pod it renders. name, instance and component
// select the pods (StatefulSet selectors are immutable); version and managed-by tell tools what
// runs and who owns it. A user's label with one of these keys would be overridden, or would
// change what a selector selects, so the spec refuses them.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelVersion   = "app.kubernetes.io/version"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// GuideAppLabel is the one label of the pods of rqlite's Kubernetes guide, app=<name>, which the
// guide's StatefulSet selects on (naming: kubernetes-configuration).
const GuideAppLabel = "app"

// ReservedLabels are the label keys the function sets itself.
var ReservedLabels = []string{LabelName, LabelInstance, LabelComponent, LabelVersion, LabelManagedBy}

// validateUserLabels is the one check of labels a user adds to generated objects
// (metadata.labels) or pods (podLabels): valid keys and values, none of the function's own.
func validateUserLabels(ps *Problems, path string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		validateLabel(ps, path, k, m[k])
		if slices.Contains(ReservedLabels, k) {
			ps.add(path+"."+k, fmt.Sprintf("%s is set by rqlite-krm on every object and pod (reserved: %s); the pods' selectors depend on it", k, strings.Join(ReservedLabels, ", ")), "use another label key")
		}
	}
}

// specOnlyDomains are the annotation prefixes (and their subdomains) of Kubernetes, its tools,
// orchestrators and this function: annotations there describe the RqliteSpec object itself (how a
// tool handles it, where it came from, what last applied it), not the cluster it describes.
// Copied to the generated objects they would act on each of them instead: an Argo CD hook would
// turn the StatefulSet into a hook, a sync wave reorder the whole cluster, local-config drop
// everything from the output, a Helm ownership annotation hand the objects to a release, and
// rqlite.io/generated-from break the function's own upsert.
var specOnlyDomains = []string{
	"kubernetes.io", // config.kubernetes.io, internal.config.kubernetes.io, kubectl.kubernetes.io, …
	"k8s.io",        // config.k8s.io (function config), kustomize.config.k8s.io
	"kpt.dev",
	"argoproj.io", // argocd.argoproj.io
	"helm.sh",     // helm.sh, meta.helm.sh
	"fluxcd.io",   // kustomize.toolkit.fluxcd.io, …
	"k14s.io",     // kapp.k14s.io
	"rqlite.io",
}

// bookkeepingDomains are the prefixes kustomize and kpt put on every spec they pass to the
// function; they are dropped without a warning.
var bookkeepingDomains = []string{"config.kubernetes.io", "internal.config.kubernetes.io", "config.k8s.io", "kustomize.config.k8s.io", "kpt.dev"}

// SpecOnlyAnnotation reports whether an annotation of the spec's metadata stays on the spec and is
// not copied to the generated objects. Every other annotation (no prefix, or a prefix of the
// user's own such as example.com/team) is copied to every object.
func SpecOnlyAnnotation(key string) bool { return inDomains(key, specOnlyDomains) }

func inDomains(key string, domains []string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	for _, d := range domains {
		if prefix == d || strings.HasSuffix(prefix, "."+d) {
			return true
		}
	}
	return false
}

// validateSpecAnnotations warns about the annotations a user put on the spec that stay there,
// so nobody expects them on the objects (a sync wave, a hook, a Helm owner).
func validateSpecAnnotations(ps *Problems, m map[string]string) {
	validateAnnotations(ps, "metadata.annotations", m)
	for _, k := range sortedKeys(m) {
		if SpecOnlyAnnotation(k) && !inDomains(k, bookkeepingDomains) {
			ps.warn("metadata.annotations."+k, "annotations of Kubernetes, its tools and orchestrators describe the spec itself and are not copied to the generated objects",
				"remove it; to annotate the generated objects use commonAnnotations on the kustomization that runs the function, or spec.service.annotations, spec.serviceAccount.annotations, podAnnotations")
		}
	}
}
