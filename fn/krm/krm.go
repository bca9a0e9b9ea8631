// Package krm is the ResourceList glue between orchestrators and the generator: it finds the
// RqliteSpecs kustomize or kpt hand over, runs the pipeline for each, upserts the generated objects
// and reports problems as results.
package krm

import (
	"fmt"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
	"go.yaml.in/yaml/v3"
)

const (
	pathAnnotation       = "internal.config.kubernetes.io/path"
	legacyPathAnnotation = "config.kubernetes.io/path"
	localConfig          = "config.kubernetes.io/local-config"
	// The index annotations say where in its file kpt writes an object.
	indexAnnotation       = "internal.config.kubernetes.io/index"
	legacyIndexAnnotation = "config.kubernetes.io/index"
)

// Process is the KRM function. Specs come from the functionConfig (kustomize generators, `kpt fn
// eval` with --fn-config) and from items (kpt packages; kustomize also repeats its functionConfig
// there). Either all specs are valid and every item is returned with the generated objects
// upserted, or the items are cleared and the results say why: a half-rendered cluster is worse
// than none, because an orchestrator that prunes would delete what is missing.
func Process(rl *ResourceList) bool {
	specs, results := collectSpecs(rl)
	if len(specs) == 0 && !hasErrors(results) {
		results = append(results, &Result{
			Severity: Error,
			Message: "no RqliteSpec found: pass one as the function config (kustomize generator, kpt --fn-config) " +
				"or put one in the package (apiVersion: " + v1alpha1.APIVersion + ", kind: " + v1alpha1.Kind + ")",
		})
	}
	rl.Results = append(rl.Results, results...)
	failed := hasErrors(results)
	outs := make([]specOutput, len(specs))
	parallel(len(specs), func(i int) { outs[i] = renderSpec(specs[i]) })
	for _, o := range outs {
		rl.Results = append(rl.Results, o.results...)
		failed = failed || o.failed
	}
	if !failed {
		claims := make([]generate.Claim, len(specs))
		for i, s := range specs {
			claims[i] = generate.Claim{Namespace: s.obj.Namespace(), Name: s.obj.Name(), Where: s.where(), Objects: outs[i].refs}
		}
		for _, c := range generate.Collisions(claims) {
			rl.Results = append(rl.Results, problemResults(specs[c.Index], v1alpha1.Problems{c.Problem})...)
			failed = true
		}
	}
	var items []*Object
	if !failed {
		var clashes Results
		items, clashes = upsert(rl.Items, specs, outs)
		rl.Results = append(rl.Results, clashes...)
		failed = len(clashes) > 0
	}
	if failed {
		rl.Items = []*Object{}
		return false
	}
	rl.Items = items
	return true
}

// specOutput is what one spec contributes: its results and, when it is valid, its objects.
type specOutput struct {
	results Results
	objects []*Object
	refs    []generate.Ref
	failed  bool
}

func renderSpec(s specSource) specOutput {
	if ps := v1alpha1.CheckSpecSize(scalarBytes(s.obj.node)); ps != nil {
		return specOutput{results: problemResults(s, ps), failed: true}
	}
	res := generate.FromYAML([]byte(s.obj.String()))
	out := specOutput{results: problemResults(s, res.Problems)}
	if res.Problems.HasErrors() {
		out.failed = true
		return out
	}
	objs, err := toObjects(res.Objects, s)
	if err != nil {
		out.results = append(out.results, &Result{Severity: Error, Message: err.Error(), ResourceRef: s.ref()})
		out.failed = true
		return out
	}
	out.objects = objs
	out.refs = generate.Refs(res.Objects)
	return out
}

// parallel runs f(0) … f(n-1) on as many goroutines as there are CPUs to run them. Specs are
// independent (the pipeline shares no mutable state; the style cache is a sync.Map), and a
// package of 1,000 specs is otherwise bound to one core. Callers write to distinct slots, so the
// output does not depend on the schedule.
func parallel(n int, f func(int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

type specSource struct {
	obj *Object
	// fromItems is true for specs found among the items: those live in a package (kpt) and their
	// generated objects are written next to them.
	fromItems bool
	// item is the spec's index among the items.
	item int
}

// where says where the spec came from, for messages that name two specs.
func (s specSource) where() string {
	switch {
	case !s.fromItems:
		return "the function config"
	case s.obj.PathAnnotation() != "":
		return s.obj.PathAnnotation()
	}
	return fmt.Sprintf("item %d", s.item)
}

func (s specSource) ref() *ResourceRef {
	return &ResourceRef{APIVersion: s.obj.APIVersion(), Kind: s.obj.Kind(), Name: s.obj.Name(), Namespace: s.obj.Namespace()}
}

func isSpec(o *Object) bool {
	return o != nil && o.Kind() == v1alpha1.Kind && strings.HasPrefix(o.APIVersion(), v1alpha1.Group+"/")
}

// collectSpecs finds the specs: the functionConfig's and the items'. Two specs for the same
// cluster are kept, for generate.Collisions to refuse, except the copy of the functionConfig that
// kustomize puts among the items.
func collectSpecs(rl *ResourceList) ([]specSource, Results) {
	var specs []specSource
	var results Results
	fc := rl.FunctionConfig
	if isKptPlaceholder(fc) {
		fc = nil
	}
	if isSpec(fc) {
		specs = append(specs, specSource{obj: fc})
	} else if fc != nil && fc.Kind() != "" {
		results = append(results, &Result{
			Severity:    Error,
			Message:     fmt.Sprintf("function config %s %q is not an RqliteSpec", fc.Kind(), fc.Name()),
			ResourceRef: &ResourceRef{APIVersion: fc.APIVersion(), Kind: fc.Kind(), Name: fc.Name()},
			Field:       &Field{Path: "kind", ProposedValue: v1alpha1.Kind},
		})
	}
	repeatSkipped := false
	for i, it := range rl.Items {
		if path := duplicateIdentityKey(it); path != "" {
			results = append(results, &Result{
				Severity:    Error,
				Message:     "duplicate key: set twice in the same mapping; tools disagree on which one counts",
				ResourceRef: &ResourceRef{APIVersion: it.APIVersion(), Kind: it.Kind(), Name: it.Name(), Namespace: it.Namespace()},
				Field:       &Field{Path: path},
			})
			continue
		}
		if !isSpec(it) {
			continue
		}
		if !repeatSkipped && isSpec(fc) && sameSpec(fc.node, it.node) {
			repeatSkipped = true
			continue // kustomize repeats its functionConfig among the items
		}
		specs = append(specs, specSource{obj: it, fromItems: true, item: i})
		if !it.IsLocalConfig() {
			results = append(results, &Result{
				Severity:    Warning,
				Message:     "this RqliteSpec is not marked local-config, so `kpt live apply` or `kubectl apply` would try to send it to the cluster",
				ResourceRef: specSource{obj: it}.ref(),
				Field:       &Field{Path: "metadata.annotations." + localConfig, ProposedValue: "true"},
			})
		}
	}
	return specs, results
}

// isKptPlaceholder reports the functionConfig `kpt fn eval DIR --exec rqlite-fn` sends when the
// user gives neither --fn-config nor arguments: an empty ConfigMap named function-input. It means
// "no function config", so the specs in the package are used; a ConfigMap with data (arguments
// after `--`) is still refused, because this function takes none.
func isKptPlaceholder(fc *Object) bool {
	if fc == nil || fc.Kind() != "ConfigMap" || fc.Name() != "function-input" {
		return false
	}
	data := lookup(fc.node, "data")
	return data == nil || data.Kind == yaml.MappingNode && len(data.Content) == 0
}

func hasErrors(rs Results) bool {
	for _, r := range rs {
		if r.Severity == Error {
			return true
		}
	}
	return false
}

func problemResults(s specSource, ps v1alpha1.Problems) Results {
	var out Results
	for _, p := range ps {
		sev := Error
		if p.Warning {
			sev = Warning
		}
		msg := p.Message
		if p.Fix != "" {
			msg += ": " + p.Fix
		}
		r := &Result{Severity: sev, Message: msg, ResourceRef: s.ref()}
		if p.Path != "" {
			r.Field = &Field{Path: p.Path}
			if p.Fix != "" {
				r.Field.ProposedValue = p.Fix
			}
		}
		if file := s.obj.PathAnnotation(); file != "" {
			r.File = &File{Path: file}
		}
		out = append(out, r)
	}
	return out
}

// toObjects turns rendered objects into items, with the file annotations kpt needs when the spec
// lives in a package. Each is written right away (render.AppendItem), so that a package of 1,000 specs
// holds 13,000 short byte slices instead of 13,000 trees.
func toObjects(objs []render.Object, s specSource) ([]*Object, error) {
	out := make([]*Object, 0, len(objs))
	file := generatedFile(s)
	for i, o := range objs {
		tree, err := render.Tree(o)
		if err != nil {
			return nil, err
		}
		var extra []render.Annotation
		if file != "" {
			idx := strconv.Itoa(i)
			extra = []render.Annotation{{Key: pathAnnotation, Value: file}, {Key: legacyPathAnnotation, Value: file}, {Key: indexAnnotation, Value: idx}, {Key: legacyIndexAnnotation, Value: idx}}
		}
		obj := &Object{
			apiVersion: o.GetObjectKind().GroupVersionKind().GroupVersion().String(),
			kind:       o.GetObjectKind().GroupVersionKind().Kind,
			name:       o.GetName(),
			namespace:  o.GetNamespace(),
		}
		if item, ok := render.AppendItem(nil, tree, extra); ok {
			obj.item = item
			obj.annotations = make(map[string]string, len(o.GetAnnotations())+len(extra))
			for k, v := range o.GetAnnotations() {
				obj.annotations[k] = v
			}
			for _, a := range extra {
				obj.annotations[a.Key] = a.Value
			}
		} else if obj.node, err = slowNode(o, extra); err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// slowNode is the generated object as the SDK held it: written by render.Encode, parsed back by
// go-yaml v3, the annotations set on the tree. The fast writer hands over to it whatever it cannot
// write byte for byte.
func slowNode(o render.Object, extra []render.Annotation) (*yaml.Node, error) {
	b, err := render.Encode(o)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("re-reading generated %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	n := doc.Content[0]
	for _, a := range extra {
		setAnnotation(n, a.Key, a.Value)
	}
	return n, nil
}

// setAnnotation sets metadata.annotations[key] the way the SDK does: an existing entry is replaced
// in place, a new one (and a missing mapping) is appended.
func setAnnotation(obj *yaml.Node, key, value string) {
	md := child(obj, "metadata")
	anns := child(md, "annotations")
	for i := 0; i+1 < len(anns.Content); i += 2 {
		if anns.Content[i].Value == key {
			anns.Content[i+1] = stringNode(value)
			return
		}
	}
	anns.Content = append(anns.Content, stringNode(key), stringNode(value))
}

// child is the mapping under key, created at the end of m when missing.
func child(m *yaml.Node, key string) *yaml.Node {
	if c := lookup(m, key); c != nil && c.Kind == yaml.MappingNode {
		return c
	}
	c := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = c
			return c
		}
	}
	m.Content = append(m.Content, stringNode(key), c)
	return c
}

// generatedFile is where a package's spec has its objects written: next to the spec. Specs that
// arrive as the function config (kustomize, `kpt fn eval --fn-config`) have none.
func generatedFile(s specSource) string {
	if p := s.obj.PathAnnotation(); s.fromItems && p != "" {
		return path.Join(path.Dir(p), s.obj.Name()+".generated.yaml")
	}
	return ""
}

// upsert drops whatever an earlier run generated from the same specs (so a second render is
// byte-identical and an object the spec no longer asks for disappears) and appends the new
// objects. Items that no spec generated are left untouched, in their order. An item that a spec
// would replace but did not generate (written by hand, by another generator, or by rqlite-fn from
// a spec that is no longer in the input) is an error: replacing it silently would lose it, and
// keeping both gives the orchestrator two objects with one identity.
func upsert(items []*Object, specs []specSource, outs []specOutput) ([]*Object, Results) {
	owners := map[string]bool{}
	// files maps each file a spec's objects are written to (kpt) to that spec's name. An object
	// in that file that the same spec generated is replaced even when its namespace no longer
	// matches: after a change of the spec's namespace the old objects would otherwise stay, and
	// kpt refuses the render because old and new objects claim the same file and index.
	files := map[string]string{}
	for _, s := range specs {
		owners[s.obj.Namespace()+"/"+s.obj.Name()] = true
		if f := generatedFile(s); f != "" {
			files[f] = s.obj.Name()
		}
	}
	generatedBy := map[string]int{}
	size := len(items)
	for i, o := range outs {
		for _, r := range o.refs {
			generatedBy[r.Identity()] = i
		}
		size += len(o.objects)
	}
	out := make([]*Object, 0, size)
	var clashes Results
	for _, it := range items {
		owner := it.Annotation(model.AnnotationOwner)
		if owner != "" && (owners[it.Namespace()+"/"+owner] || files[it.PathAnnotation()] == owner) {
			continue
		}
		ref := generate.Ref{APIVersion: it.APIVersion(), Kind: it.Kind(), Namespace: it.Namespace(), Name: it.Name()}
		if i, taken := generatedBy[ref.Identity()]; taken && !isSpec(it) {
			clashes = append(clashes, overwriteResult(it, ref, owner, specs[i]))
			continue
		}
		out = append(out, it)
	}
	for _, o := range outs {
		out = append(out, o.objects...)
	}
	return out, clashes
}

func overwriteResult(it *Object, ref generate.Ref, owner string, s specSource) *Result {
	what := "it was not generated by rqlite-fn"
	if owner != "" {
		what = "it was generated from RqliteSpec " + owner + ", which is not in the input"
	}
	if f := it.PathAnnotation(); f != "" {
		what += " (file " + f + ")"
	}
	return problemResults(s, v1alpha1.Problems{{
		Path:    "metadata.name",
		Message: fmt.Sprintf("%s is already in the input and this spec would overwrite it, but %s", ref, what),
		Fix:     "rename the cluster, or remove the object from the input",
	}})[0]
}

// ToYAML encodes the ResourceList for the orchestrator: Encode, plus an explicit empty item list
// when there are no items. Encode (like the SDK) leaves out `items` then, and kpt reads the whole
// ResourceList as one resource and fails with "resource must have metadata.name" instead of
// showing the results; `items: []` keeps the results visible when a failed run clears the items.
func ToYAML(rl *ResourceList) ([]byte, error) {
	out, err := rl.Encode()
	if err != nil || len(rl.Items) > 0 {
		return out, err
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, "items: []\n"...), nil
}

// SortedMessages renders results for people (the CLI and stderr under kustomize), errors first.
func SortedMessages(rs Results) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.HasPrefix(out[i], "[error]") && !strings.HasPrefix(out[j], "[error]")
	})
	return out
}

// CommandKey is the functionConfig data key that selects what KRM mode does. Container runtimes
// (kustomize's `container: image:`, a Kptfile's `image:`) start the image's entrypoint without
// arguments, so `rqlite-fn verify` cannot be asked for by argument there; a ConfigMap function
// config with data.command: verify asks for it in every runtime (kpt fn eval passes
// `-- command=verify` as exactly that ConfigMap).
const CommandKey = "command"

// Command is data.command of a ConfigMap function config, and whether it is set.
func Command(rl *ResourceList) (string, bool) {
	fc := rl.FunctionConfig
	if fc == nil || fc.node == nil || fc.Kind() != "ConfigMap" || fc.APIVersion() != "v1" {
		return "", false
	}
	n := lookup(lookup(fc.node, "data"), CommandKey)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}
