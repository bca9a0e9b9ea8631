package helmimport

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// parseValues decodes one values file. An empty file is an empty set of values, as for Helm.
func parseValues(b []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("a values file is a YAML mapping, not %T", v)
	}
}

// overlay merges later values files over earlier ones the way `helm -f a -f b` does: maps merge
// key by key, everything else (lists included) is replaced.
func overlay(dst, src map[string]any) map[string]any {
	out := copyMap(dst)
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = overlay(dm, sm)
				continue
			}
		}
		out[k] = deepCopy(sv)
	}
	return out
}

// coalesce merges the user's values over the chart's defaults with Helm's rules: a user map
// merges into a default map, any other user value replaces the default, and a user null deletes a
// key the defaults have (the chart then sees no value). A null for a key the defaults lack stays,
// which is how readonly.<key>: null overrides a top-level value with "nothing".
func coalesce(user, defaults map[string]any) map[string]any {
	out := copyMap(user)
	for k, dv := range defaults {
		uv, present := out[k]
		switch {
		case !present:
			out[k] = deepCopy(dv)
		case uv == nil:
			delete(out, k)
		default:
			um, uok := uv.(map[string]any)
			dm, dok := dv.(map[string]any)
			if uok && dok {
				out[k] = coalesce(um, dm)
			}
		}
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return copyMap(t)
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = deepCopy(t[i])
		}
		return out
	default:
		return v
	}
}

// lookup returns the value at a dotted path and whether the path is present (a present null
// counts).
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		cm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = cm[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// empty is the chart's notion of "not set": Helm templates test values with `if`, which is false
// for null, false, 0, "" and empty lists and maps.
func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case float64:
		return t == 0
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

func truthy(v any) bool { return !empty(v) }

// str is a scalar's text as a template would print it.
func str(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprintf("%g", t)
	default:
		return fmt.Sprint(t)
	}
}

// integer converts a whole YAML number.
func integer(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, false
	}
	return int64(f), true
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

// differs reports whether a user value says anything its default does not: a map differs when
// one of its keys does, so restating defaults is the same as leaving them out.
func differs(user, def any) bool {
	um, uok := user.(map[string]any)
	dm, dok := def.(map[string]any)
	if !uok || !dok {
		return !equal(user, def)
	}
	for k, v := range um {
		if differs(v, dm[k]) {
			return true
		}
	}
	return false
}

// schemaAt is the chart's default at a path of the user's values, and whether the chart knows the
// path at all. readonly.<key> is described by the top-level <key> it overrides.
func schemaAt(path string) (any, bool) {
	if undocumentedKeys[path] {
		return nil, true
	}
	defaults := chartDefaults()
	if rest, ok := strings.CutPrefix(path, "readonly."); ok {
		if rest == "replicaCount" {
			return lookup(defaults, path)
		}
		top, _, _ := strings.Cut(rest, ".")
		if !contains(readonlyKeys, top) {
			return nil, false
		}
		return lookup(defaults, rest)
	}
	return lookup(defaults, path)
}

// userPaths lists every value the user set, as deep as the chart's schema goes: into the
// chart's own maps, but not into Kubernetes objects or free-form maps, and not below a key the
// chart does not know.
func userPaths(user map[string]any) []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			def, known := schemaAt(p)
			sub, isMap := v.(map[string]any)
			dm, defIsMap := def.(map[string]any)
			descend := known && isMap && !opaqueKeys[strings.TrimPrefix(p, "readonly.")] &&
				(p == "readonly" || (defIsMap && len(dm) > 0))
			if descend && len(sub) > 0 {
				walk(p, sub)
				continue
			}
			out = append(out, p)
		}
	}
	walk("", user)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
