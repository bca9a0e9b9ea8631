// Package krm is the ResourceList glue between orchestrators and the generator: it finds the
// RqliteSpecs kustomize or kpt hand over, runs the pipeline for each, upserts the generated objects
// and reports problems as results.
package krm

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
)

const (
	pathAnnotation       = "internal.config.kubernetes.io/path"
	legacyPathAnnotation = "config.kubernetes.io/path"
	localConfig          = "config.kubernetes.io/local-config"
)

// Process is the KRM function. Specs come from the functionConfig (kustomize generators, `kpt fn
// eval` with --fn-config) and from items (kpt packages; kustomize also repeats its functionConfig
// there). Either all specs are valid and every item is returned with the generated objects
// upserted, or the items are cleared and the results say why: a half-rendered cluster is worse
// than none, because an orchestrator that prunes would delete what is missing.
func Process(rl *fn.ResourceList) (bool, error) {
	specs, results := collectSpecs(rl)
	if len(specs) == 0 && !hasErrors(results) {
		results = append(results, &fn.Result{
			Severity: fn.Error,
			Message: "no RqliteSpec found: pass one as the function config (kustomize generator, kpt --fn-config) " +
				"or put one in the package (apiVersion: " + v1alpha1.APIVersion + ", kind: " + v1alpha1.Kind + ")",
		})
	}
	rl.Results = append(rl.Results, results...)
	var generated fn.KubeObjects
	failed := hasErrors(results)
	for _, s := range specs {
		res := generate.FromYAML([]byte(s.obj.String()))
		rl.Results = append(rl.Results, problemResults(s, res.Problems)...)
		if res.Problems.HasErrors() {
			failed = true
			continue
		}
		objs, err := toKubeObjects(res.Objects, s)
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
	rl.Items = upsert(rl.Items, specs, generated)
	return true, nil
}

type specSource struct {
	obj *fn.KubeObject
	// fromItems is true for specs found among the items: those live in a package (kpt) and their
	// generated objects are written next to them.
	fromItems bool
}

func (s specSource) ref() *fn.ResourceRef {
	return &fn.ResourceRef{APIVersion: s.obj.GetAPIVersion(), Kind: s.obj.GetKind(), Name: s.obj.GetName(), Namespace: s.obj.GetNamespace()}
}

func isSpec(o *fn.KubeObject) bool {
	return o != nil && o.GetKind() == v1alpha1.Kind && strings.HasPrefix(o.GetAPIVersion(), v1alpha1.Group+"/")
}

func collectSpecs(rl *fn.ResourceList) ([]specSource, fn.Results) {
	var specs []specSource
	var results fn.Results
	seen := map[string]bool{}
	key := func(o *fn.KubeObject) string { return o.GetNamespace() + "/" + o.GetName() }
	fc := rl.FunctionConfig
	if isKptPlaceholder(fc) {
		fc = nil
	}
	if isSpec(fc) {
		specs = append(specs, specSource{obj: fc})
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
		if !isSpec(it) {
			continue
		}
		if seen[key(it)] {
			continue // kustomize repeats its functionConfig among the items
		}
		seen[key(it)] = true
		specs = append(specs, specSource{obj: it, fromItems: true})
		if !it.IsLocalConfig() {
			results = append(results, &fn.Result{
				Severity:    fn.Warning,
				Message:     "this RqliteSpec is not marked local-config, so `kpt live apply` or `kubectl apply` would try to send it to the cluster",
				ResourceRef: specSource{obj: it}.ref(),
				Field:       &fn.Field{Path: "metadata.annotations." + localConfig, ProposedValue: "true"},
			})
		}
	}
	return specs, results
}

// isKptPlaceholder reports the functionConfig `kpt fn eval DIR --exec rqlite-fn` sends when the
// user gives neither --fn-config nor arguments: an empty ConfigMap named function-input. It means
// "no function config", so the specs in the package are used; a ConfigMap with data (arguments
// after `--`) is still refused, because this function takes none.
func isKptPlaceholder(fc *fn.KubeObject) bool {
	if fc == nil || fc.GetKind() != "ConfigMap" || fc.GetName() != "function-input" {
		return false
	}
	data, _, err := fc.NestedStringMap("data")
	return err == nil && len(data) == 0
}

func hasErrors(rs fn.Results) bool {
	for _, r := range rs {
		if r.Severity == fn.Error {
			return true
		}
	}
	return false
}

func problemResults(s specSource, ps v1alpha1.Problems) fn.Results {
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

func toKubeObjects(objs []render.Object, s specSource) (fn.KubeObjects, error) {
	out := make(fn.KubeObjects, 0, len(objs))
	file := generatedFile(s)
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
			for _, a := range []string{pathAnnotation, legacyPathAnnotation} {
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

// generatedFile is where a package's spec has its objects written: next to the spec. Specs that
// arrive as the function config (kustomize, `kpt fn eval --fn-config`) have none.
func generatedFile(s specSource) string {
	if p := s.obj.PathAnnotation(); s.fromItems && p != "" {
		return path.Join(path.Dir(p), s.obj.GetName()+".generated.yaml")
	}
	return ""
}

// upsert drops whatever an earlier run generated from the same specs (so a second render is
// byte-identical and an object the spec no longer asks for disappears) and appends the new
// objects. Items that no spec generated are left untouched, in their order.
func upsert(items fn.KubeObjects, specs []specSource, generated fn.KubeObjects) fn.KubeObjects {
	owners := map[string]bool{}
	// files maps each file a spec's objects are written to (kpt) to that spec's name. An object
	// in that file that the same spec generated is replaced even when its namespace no longer
	// matches: after a change of the spec's namespace the old objects would otherwise stay, and
	// kpt refuses the render because old and new objects claim the same file and index.
	files := map[string]string{}
	for _, s := range specs {
		owners[s.obj.GetNamespace()+"/"+s.obj.GetName()] = true
		if f := generatedFile(s); f != "" {
			files[f] = s.obj.GetName()
		}
	}
	newIDs := map[string]bool{}
	for _, g := range generated {
		newIDs[id(g)] = true
	}
	out := make(fn.KubeObjects, 0, len(items)+len(generated))
	for _, it := range items {
		if owner := it.GetAnnotation(model.AnnotationOwner); owner != "" &&
			(owners[it.GetNamespace()+"/"+owner] || files[it.PathAnnotation()] == owner) {
			continue
		}
		if newIDs[id(it)] && !isSpec(it) {
			continue // same object written by hand or by an older version: the spec owns it now
		}
		out = append(out, it)
	}
	return append(out, generated...)
}

func id(o *fn.KubeObject) string {
	return strings.Join([]string{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}, "/")
}

// ToYAML encodes the ResourceList for the orchestrator. The SDK leaves out `items` when there are
// none, and kpt then reads the whole ResourceList as one resource and fails with "resource must
// have metadata.name" instead of showing the results; an explicit empty list keeps the results
// visible when a failed run clears the items.
//
// Items are encoded one at a time, each by the SDK in a ResourceList of its own (the same context,
// so the same bytes): go-yaml v3's emitter keeps every event of a document until the document
// ends, so one encoder for a whole package of 1,000 specs held gigabytes (bench/).
func ToYAML(rl *fn.ResourceList) ([]byte, error) {
	if len(rl.Items) == 0 {
		out, err := rl.ToYAML()
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, "items: []\n"...), nil
	}
	rl.Sort()
	items := rl.Items
	rl.Items = nil
	rest, err := rl.ToYAML()
	rl.Items = items
	if err != nil {
		return nil, err
	}
	rest, ok := bytes.CutPrefix(rest, []byte(listHeader))
	if !ok {
		return rl.ToYAML() // an SDK that writes the header differently: take the slow path
	}
	out := append(make([]byte, 0, len(rest)+len(items)*4096), listHeader+"items:\n"...)
	for _, it := range items {
		one, err := (&fn.ResourceList{Items: fn.KubeObjects{it}}).ToYAML()
		if err != nil {
			return nil, err
		}
		item, ok := bytes.CutPrefix(one, []byte(listHeader+"items:\n"))
		if !ok {
			return rl.ToYAML()
		}
		out = append(out, item...)
	}
	return append(out, rest...), nil
}

// listHeader is how the SDK starts every ResourceList; items follow it.
const listHeader = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"

// SortedMessages renders results for people (the CLI and stderr under kustomize), errors first.
func SortedMessages(rs fn.Results) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.HasPrefix(out[i], "[error]") && !strings.HasPrefix(out[j], "[error]")
	})
	return out
}
