// Package plan compares two renders of a cluster and says what applying the second over the first
// will do: which objects are created, changed or deleted, and what that means for a running rqlite
// cluster (restarts, voter removal, quorum, immutable fields). It reads rendered objects only, never
// the spec, so what it reports is what `kubectl apply` would receive.
package plan

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
	"sigs.k8s.io/yaml"
)

// Actions of an object.
const (
	Created   = "created"
	Changed   = "changed"
	Deleted   = "deleted"
	Unchanged = "unchanged"
)

// Severities of a consequence. Breaking means applying the new render over a running cluster fails
// or loses data unless the steps in the details are followed first.
const (
	Info     = "info"
	Warning  = "warning"
	Breaking = "breaking"
)

// Report is the plan. Its JSON form is the documented output of `rqlite-fn plan --output json`
// (docs/plan.md); fields are only ever added to it.
type Report struct {
	Objects      []ObjectChange `json:"objects"`
	Consequences []Consequence  `json:"consequences"`
	Restarts     []Restart      `json:"restarts"`
	// Shrink is set when the voter count goes down.
	Shrink *Shrink `json:"shrink"`
}

// ObjectChange is one object of either render.
type ObjectChange struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Action     string `json:"action"`
	// PreviousName is set when the object keeps its identity under a new name: the shrink Job,
	// whose name carries its target and a hash of its template.
	PreviousName string `json:"previousName,omitempty"`
	// Fields are the changed field paths (for Changed only), sorted.
	Fields []string `json:"fields"`
}

// Consequence is one thing a reviewer should know about applying the change.
type Consequence struct {
	Severity string `json:"severity"`
	// Kind is a stable machine-readable category, e.g. "rolling-restart" or "storage-size".
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Details []string `json:"details"`
}

// Restart is a StatefulSet whose pods are replaced one at a time because its pod template changed.
type Restart struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Component string `json:"component"`
	// Pods is the number of pods that restart; nil when a HorizontalPodAutoscaler sizes the pool.
	Pods *int `json:"pods"`
	// Fields are the changed paths under spec.template.
	Fields []string `json:"fields"`
}

// Shrink is the voter removal the shrink Job performs before the StatefulSet is applied.
type Shrink struct {
	From int `json:"from"`
	To   int `json:"to"`
	// Job is the Job that performs it; empty when the new render has no shrink Job.
	Job     string  `json:"job"`
	Batches []Batch `json:"batches"`
}

// Batch is one step of the shrink: the voters in Remove leave the configuration together.
type Batch struct {
	From   int      `json:"from"`
	To     int      `json:"to"`
	Remove []string `json:"remove"`
	// RequiresRemovedAlive: the removed voter must stay up until its removal commits (2 → 1).
	RequiresRemovedAlive bool `json:"requiresRemovedAlive"`
}

// Breaking reports whether any consequence is breaking.
func (r *Report) Breaking() bool {
	for _, c := range r.Consequences {
		if c.Severity == Breaking {
			return true
		}
	}
	return false
}

// object is a rendered object as the generic map `kubectl apply` receives.
type object struct {
	key                               string
	apiVersion, kind, name, namespace string
	body                              map[string]any
	// client is, for a StatefulSet, the Service that load-balances over its pods.
	client string
	// comp is the component of an object written by hand (the guide's StatefulSet has no
	// component label): the component of the rendered object it becomes.
	comp string
}

func (o *object) labels() map[string]any { return mapAt(o.body, "metadata", "labels") }
func (o *object) label(k string) string  { s, _ := o.labels()[k].(string); return s }
func (o *object) component() string {
	if o.comp != "" {
		return o.comp
	}
	return o.label("app.kubernetes.io/component")
}
func (o *object) instance() string          { return o.label("app.kubernetes.io/instance") }
func (o *object) ref() string               { return qualified(o.namespace, o.name) }
func (o *object) is(kind, comp string) bool { return o.kind == kind && o.component() == comp }

// side is one render: its objects in render order and by identity.
type side struct {
	objects []*object
	byKey   map[string]*object
}

func (s *side) find(kind, component string) *object {
	for _, o := range s.objects {
		if o.is(kind, component) {
			return o
		}
	}
	return nil
}

func (s *side) configData(key string) (string, bool) {
	for _, o := range s.objects {
		if o.kind == "ConfigMap" {
			v, ok := mapAt(o.body, "data")[key].(string)
			return v, ok
		}
	}
	return "", false
}

// Compare plans the change from the objects of one render to those of another. Either list may be
// empty: no cluster before (everything is created) or none after (everything is deleted).
func Compare(oldObjs, newObjs []render.Object) (*Report, error) {
	oldSide, err := load(oldObjs)
	if err != nil {
		return nil, err
	}
	newSide, err := load(newObjs)
	if err != nil {
		return nil, err
	}
	return compareSides(oldSide, newSide, nil), nil
}

// compareSides plans between two loaded sides; extra adds consequences of the caller's.
func compareSides(oldSide, newSide *side, extra func(*Report)) *Report {
	r := &Report{Objects: []ObjectChange{}, Consequences: []Consequence{}, Restarts: []Restart{}}
	for _, n := range newSide.objects {
		ch := ObjectChange{APIVersion: n.apiVersion, Kind: n.kind, Name: n.name, Namespace: n.namespace, Fields: []string{}}
		o := oldSide.byKey[n.key]
		switch {
		case o == nil:
			ch.Action = Created
		default:
			ch.Fields = Diff(o.body, n.body)
			ch.Action = Unchanged
			if len(ch.Fields) > 0 {
				ch.Action = Changed
			}
			if o.name != n.name {
				ch.PreviousName = o.name
			}
		}
		r.Objects = append(r.Objects, ch)
	}
	for _, o := range oldSide.objects {
		if newSide.byKey[o.key] == nil {
			r.Objects = append(r.Objects, ObjectChange{APIVersion: o.apiVersion, Kind: o.kind, Name: o.name, Namespace: o.namespace, Action: Deleted, Fields: []string{}})
		}
	}
	analyse(r, oldSide, newSide)
	if extra != nil {
		extra(r)
	}
	sort.SliceStable(r.Consequences, func(i, j int) bool {
		return severityRank[r.Consequences[i].Severity] < severityRank[r.Consequences[j].Severity]
	})
	return r
}

var severityRank = map[string]int{Breaking: 0, Warning: 1, Info: 2}

// FromResults plans between two pipeline results. A nil result stands for "no spec".
func FromResults(oldRes, newRes *generate.Result) (*Report, error) {
	var oldObjs, newObjs []render.Object
	if oldRes != nil {
		oldObjs = oldRes.Objects
	}
	if newRes != nil {
		newObjs = newRes.Objects
	}
	return Compare(oldObjs, newObjs)
}

func load(objs []render.Object) (*side, error) {
	s := &side{byKey: map[string]*object{}}
	for _, ro := range objs {
		b, err := render.Encode(ro)
		if err != nil {
			return nil, err
		}
		var body map[string]any
		if err := yaml.Unmarshal(b, &body); err != nil {
			return nil, fmt.Errorf("decoding the rendered %s %s: %w", ro.GetObjectKind().GroupVersionKind().Kind, ro.GetName(), err)
		}
		o := &object{body: body, name: ro.GetName(), namespace: ro.GetNamespace()}
		o.apiVersion, _ = body["apiVersion"].(string)
		o.kind, _ = body["kind"].(string)
		name := o.name
		// The shrink Job's name carries its target and a template hash, so every change renames
		// it; it is still the one Job of the cluster, and a reviewer wants it shown as a change.
		if o.is("Job", model.ComponentShrink) {
			name = o.instance() + "-shrink-*"
		}
		o.key = strings.Join([]string{o.apiVersion, o.kind, o.namespace, name}, "/")
		if _, dup := s.byKey[o.key]; dup {
			return nil, fmt.Errorf("two rendered objects share the identity %s", o.key)
		}
		s.byKey[o.key] = o
		s.objects = append(s.objects, o)
	}
	for _, sts := range s.objects {
		if sts.kind == "StatefulSet" {
			sts.client = clientServiceOf(s, sts)
		}
	}
	return s, nil
}

// clientServiceOf finds the Service clients use for a StatefulSet's pods: it selects them and, unlike
// the governing headless Service, has a cluster IP.
func clientServiceOf(s *side, sts *object) string {
	want := mapAt(sts.body, "spec", "selector", "matchLabels")
	for _, o := range s.objects {
		if o.kind != "Service" || o.namespace != sts.namespace || o.name == valueAt(sts.body, "spec", "serviceName") {
			continue
		}
		if ip, _ := valueAt(o.body, "spec", "clusterIP").(string); ip == "None" {
			continue
		}
		if len(want) > 0 && reflect.DeepEqual(mapAt(o.body, "spec", "selector"), want) {
			return o.name
		}
	}
	svc, _ := valueAt(sts.body, "spec", "serviceName").(string)
	return strings.TrimSuffix(svc, "-headless")
}

// Diff returns the paths at which two decoded objects differ, sorted. Lists of equal length are
// compared element by element; a list that grew or shrank is reported as a whole, since the
// elements no longer line up.
func Diff(a, b map[string]any) []string {
	out := []string{}
	diffValue("", a, b, &out)
	sort.Strings(out)
	return out
}

func diffValue(path string, a, b any, out *[]string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		for k := range keys {
			ae, aok := av[k]
			be, bok := bv[k]
			if aok != bok {
				*out = append(*out, JoinPath(path, k))
				continue
			}
			diffValue(JoinPath(path, k), ae, be, out)
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		for i := range av {
			diffValue(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, path)
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// JoinPath appends a map key to a field path: `a.b` for plain keys, `a["app.kubernetes.io/name"]`
// for keys that would be ambiguous after a dot.
func JoinPath(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func valueAt(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func mapAt(v any, path ...string) map[string]any {
	m, _ := valueAt(v, path...).(map[string]any)
	return m
}

// intAt reads a whole number from a decoded object; ok is false when the field is absent.
func intAt(v any, path ...string) (int, bool) {
	switch x := valueAt(v, path...).(type) {
	case float64:
		return int(x), true
	case int64:
		return int(x), true
	case int:
		return x, true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
