// Package generate is the whole pipeline for one spec: decode strictly, default, validate, derive
// the model and render. Callers (the KRM glue, the CLI, benchmarks) only choose where bytes come
// from and go to.
package generate

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
)

// Result is what one spec produced: objects when it was valid, and every problem (warnings
// included) either way.
type Result struct {
	Spec     *v1alpha1.RqliteSpec // defaulted; nil when decoding failed
	Cluster  *model.Cluster       // nil when the spec has errors
	Objects  []render.Object      // nil when the spec has errors
	Problems v1alpha1.Problems
}

// FromYAML runs the pipeline on one RqliteSpec document.
func FromYAML(doc []byte) Result {
	spec, ps := v1alpha1.Decode(doc)
	if spec == nil {
		return Result{Problems: ps}
	}
	d := v1alpha1.Default(spec)
	return finish(d, append(ps, v1alpha1.Validate(d)...))
}

// FromSpec runs the pipeline on a decoded spec.
func FromSpec(spec *v1alpha1.RqliteSpec) Result {
	d := v1alpha1.Default(spec)
	return finish(d, v1alpha1.Validate(d))
}

// finish renders a defaulted spec unless its problems hold an error.
func finish(d *v1alpha1.RqliteSpec, ps v1alpha1.Problems) Result {
	if ps.HasErrors() {
		return Result{Spec: d, Problems: ps}
	}
	c := model.New(d)
	objs := render.Objects(c)
	if big := annotationSizes(objs); len(big) > 0 {
		return Result{Spec: d, Problems: append(ps, big...)}
	}
	return Result{Spec: d, Cluster: c, Objects: objs, Problems: ps}
}

// annotationSizes checks the annotations of every generated object (and pod template) against
// the API server's limit. Decode checks each annotation field of the spec on its own; an object
// can combine two of them (metadata.annotations and spec.service.annotations on a Service).
func annotationSizes(objs []render.Object) v1alpha1.Problems {
	var ps v1alpha1.Problems
	check := func(o render.Object, what string, m map[string]string) {
		if n := v1alpha1.AnnotationBytes(m); n > v1alpha1.MaxAnnotationBytes {
			ps = append(ps, v1alpha1.Problem{
				Path: "metadata.annotations",
				Message: fmt.Sprintf("%s %s would carry %d bytes of annotations%s, from the spec's annotation fields together; the API server accepts at most %s per object",
					o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), n, what, v1alpha1.FormatBytes(v1alpha1.MaxAnnotationBytes)),
				Fix: "make the annotations smaller",
			})
		}
	}
	for _, o := range objs {
		check(o, "", o.GetAnnotations())
		switch x := o.(type) {
		case *appsv1.StatefulSet:
			check(o, " on its pods", x.Spec.Template.Annotations)
		case *batchv1.Job:
			check(o, " on its pods", x.Spec.Template.Annotations)
		}
	}
	return ps
}
