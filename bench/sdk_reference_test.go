package bench

// The function's ResourceList glue as it was written on the kpt functions SDK, kept as the
// reference the SDK-free hot path (fn/krm) is compared with byte for byte: the same inputs through
// both must give the same output (TestToYAMLMatchesSDK).

import (
	"fmt"
	"path"
	"strings"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
)

const (
	sdkPathAnnotation       = "internal.config.kubernetes.io/path"
	sdkLegacyPathAnnotation = "config.kubernetes.io/path"
	sdkLocalConfig          = "config.kubernetes.io/local-config"
)

// sdkProcess is the KRM function. Specs come from the functionConfig (kustomize generators, `kpt fn
// eval` with --fn-config) and from items (kpt packages; kustomize also repeats its functionConfig
// there). Either all specs are valid and every item is returned with the generated objects
// upserted, or the items are cleared and the results say why: a half-rendered cluster is worse
// than none, because an orchestrator that prunes would delete what is missing.
func sdkProcess(rl *fn.ResourceList) (bool, error) {
	specs, results := sdkCollectSpecs(rl)
	if len(specs) == 0 && !sdkHasErrors(results) {
		results = append(results, &fn.Result{
			Severity: fn.Error,
			Message: "no RqliteSpec found: pass one as the function config (kustomize generator, kpt --fn-config) " +
				"or put one in the package (apiVersion: " + v1alpha1.APIVersion + ", kind: " + v1alpha1.Kind + ")",
		})
	}
	rl.Results = append(rl.Results, results...)
	var generated fn.KubeObjects
	failed := sdkHasErrors(results)
	for _, s := range specs {
		res := generate.FromYAML([]byte(s.obj.String()))
		rl.Results = append(rl.Results, sdkProblemResults(s, res.Problems)...)
		if res.Problems.HasErrors() {
			failed = true
			continue
		}
		objs, err := sdkToKubeObjects(res.Objects, s)
		if err != nil {
			rl.Results = append(rl.Results, &fn.Result{Severity: fn.Error, Message: err.Error(), ResourceRef: s.ref()})
			failed = true
			continue
		}
		generated = append(generated, objs...)
	}
	if failed {
		rl.Items = fn.KubeObjects{}
		return false, nil
	}
	rl.Items = sdkUpsert(rl.Items, specs, generated)
	return true, nil
}

type sdkSpecSource struct {
	obj *fn.KubeObject
	// fromItems is true for specs found among the items: those live in a package (kpt) and their
	// generated objects are written next to them.
	fromItems bool
}

func (s sdkSpecSource) ref() *fn.ResourceRef {
	return &fn.ResourceRef{APIVersion: s.obj.GetAPIVersion(), Kind: s.obj.GetKind(), Name: s.obj.GetName(), Namespace: s.obj.GetNamespace()}
}

func sdkIsSpec(o *fn.KubeObject) bool {
	return o != nil && o.GetKind() == v1alpha1.Kind && strings.HasPrefix(o.GetAPIVersion(), v1alpha1.Group+"/")
}

func sdkCollectSpecs(rl *fn.ResourceList) ([]sdkSpecSource, fn.Results) {
	var specs []sdkSpecSource
	var results fn.Results
	seen := map[string]bool{}
	key := func(o *fn.KubeObject) string { return o.GetNamespace() + "/" + o.GetName() }
	fc := rl.FunctionConfig
	if sdkIsKptPlaceholder(fc) {
		fc = nil
	}
	if sdkIsSpec(fc) {
		specs = append(specs, sdkSpecSource{obj: fc})
		seen[key(fc)] = true
	} else if fc != nil && !fc.IsEmpty() && fc.GetKind() != "" {
		results = append(results, &fn.Result{
			Severity:    fn.Error,
			Message:     fmt.Sprintf("function config %s %q is not an RqliteSpec", fc.GetKind(), fc.GetName()),
			ResourceRef: &fn.ResourceRef{APIVersion: fc.GetAPIVersion(), Kind: fc.GetKind(), Name: fc.GetName()},
			Field:       &fn.Field{Path: "kind", ProposedValue: v1alpha1.Kind},
		})
	}
	for _, it := range rl.Items {
		if !sdkIsSpec(it) {
			continue
		}
		if seen[key(it)] {
			continue // kustomize repeats its functionConfig among the items
		}
		seen[key(it)] = true
		specs = append(specs, sdkSpecSource{obj: it, fromItems: true})
		if !it.IsLocalConfig() {
			results = append(results, &fn.Result{
				Severity:    fn.Warning,
				Message:     "this RqliteSpec is not marked local-config, so `kpt live apply` or `kubectl apply` would try to send it to the cluster",
				ResourceRef: sdkSpecSource{obj: it}.ref(),
				Field:       &fn.Field{Path: "metadata.annotations." + sdkLocalConfig, ProposedValue: "true"},
			})
		}
	}
	return specs, results
}

// sdkIsKptPlaceholder reports the functionConfig `kpt fn eval DIR --exec rqlite-fn` sends when the
// user gives neither --fn-config nor arguments: an empty ConfigMap named function-input. It means
// "no function config", so the specs in the package are used; a ConfigMap with data (arguments
// after `--`) is still refused, because this function takes none.
func sdkIsKptPlaceholder(fc *fn.KubeObject) bool {
	if fc == nil || fc.GetKind() != "ConfigMap" || fc.GetName() != "function-input" {
		return false
	}
	data, _, err := fc.NestedStringMap("data")
	return err == nil && len(data) == 0
}

func sdkHasErrors(rs fn.Results) bool {
	for _, r := range rs {
		if r.Severity == fn.Error {
			return true
		}
	}
	return false
}

func sdkProblemResults(s sdkSpecSource, ps v1alpha1.Problems) fn.Results {
	var out fn.Results
	for _, p := range ps {
		sev := fn.Error
		if p.Warning {
			sev = fn.Warning
		}
		msg := p.Message
		if p.Fix != "" {
			msg += ": " + p.Fix
		}
		r := &fn.Result{Severity: sev, Message: msg, ResourceRef: s.ref()}
		if p.Path != "" {
			r.Field = &fn.Field{Path: p.Path}
			if p.Fix != "" {
				r.Field.ProposedValue = p.Fix
			}
		}
		if file := s.obj.PathAnnotation(); file != "" {
			r.File = &fn.File{Path: file}
		}
		out = append(out, r)
	}
	return out
}

func sdkToKubeObjects(objs []render.Object, s sdkSpecSource) (fn.KubeObjects, error) {
	out := make(fn.KubeObjects, 0, len(objs))
	file := sdkGeneratedFile(s)
	for i, o := range objs {
		b, err := render.Encode(o)
		if err != nil {
			return nil, err
		}
		ko, err := fn.ParseKubeObject(b)
		if err != nil {
			return nil, fmt.Errorf("re-reading generated %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		if file != "" {
			for _, a := range []string{sdkPathAnnotation, sdkLegacyPathAnnotation} {
				if err := ko.SetAnnotation(a, file); err != nil {
					return nil, err
				}
			}
			if err := ko.SetAnnotation("internal.config.kubernetes.io/index", fmt.Sprint(i)); err != nil {
				return nil, err
			}
			if err := ko.SetAnnotation("config.kubernetes.io/index", fmt.Sprint(i)); err != nil {
				return nil, err
			}
		}
		out = append(out, ko)
	}
	return out, nil
}

// sdkGeneratedFile is where a package's spec has its objects written: next to the spec. Specs that
// arrive as the function config (kustomize, `kpt fn eval --fn-config`) have none.
func sdkGeneratedFile(s sdkSpecSource) string {
	if p := s.obj.PathAnnotation(); s.fromItems && p != "" {
		return path.Join(path.Dir(p), s.obj.GetName()+".generated.yaml")
	}
	return ""
}

// sdkUpsert drops whatever an earlier run generated from the same specs (so a second render is
// byte-identical and an object the spec no longer asks for disappears) and appends the new
// objects. Items that no spec generated are left untouched, in their order.
func sdkUpsert(items fn.KubeObjects, specs []sdkSpecSource, generated fn.KubeObjects) fn.KubeObjects {
	owners := map[string]bool{}
	// files maps each file a spec's objects are written to (kpt) to that spec's name. An object
	// in that file that the same spec generated is replaced even when its namespace no longer
	// matches: after a change of the spec's namespace the old objects would otherwise stay, and
	// kpt refuses the render because old and new objects claim the same file and index.
	files := map[string]string{}
	for _, s := range specs {
		owners[s.obj.GetNamespace()+"/"+s.obj.GetName()] = true
		if f := sdkGeneratedFile(s); f != "" {
			files[f] = s.obj.GetName()
		}
	}
	newIDs := map[string]bool{}
	for _, g := range generated {
		newIDs[sdkId(g)] = true
	}
	out := make(fn.KubeObjects, 0, len(items)+len(generated))
	for _, it := range items {
		if owner := it.GetAnnotation(model.AnnotationOwner); owner != "" &&
			(owners[it.GetNamespace()+"/"+owner] || files[it.PathAnnotation()] == owner) {
			continue
		}
		if newIDs[sdkId(it)] && !sdkIsSpec(it) {
			continue // same object written by hand or by an older version: the spec owns it now
		}
		out = append(out, it)
	}
	return append(out, generated...)
}

func sdkId(o *fn.KubeObject) string {
	return strings.Join([]string{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}, "/")
}

// sdkToYAML is the SDK's encoding, with the explicit empty item list the function adds.
func sdkToYAML(rl *fn.ResourceList) ([]byte, error) {
	out, err := rl.ToYAML()
	if err != nil || len(rl.Items) > 0 {
		return out, err
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "items: []\n"...), nil
}
