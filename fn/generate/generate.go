// Package generate is the whole pipeline for one spec: decode strictly, default, validate, derive
// the model and render. Callers (the KRM glue, the CLI, benchmarks) only choose where bytes come
// from and go to.
package generate

import (
	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
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
	res := FromSpec(spec)
	if len(ps) > 0 {
		res.Problems = append(ps, res.Problems...)
		res.Cluster, res.Objects = nil, nil
	}
	return res
}

// FromSpec runs the pipeline on a decoded spec.
func FromSpec(spec *v1alpha1.RqliteSpec) Result {
	d := v1alpha1.Default(spec)
	ps := v1alpha1.Validate(d)
	if ps.HasErrors() {
		return Result{Spec: d, Problems: ps}
	}
	c := model.New(d)
	return Result{Spec: d, Cluster: c, Objects: render.Objects(c), Problems: ps}
}
