package helmchart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// DefaultsFile is where a reference directory keeps `helm show values` of the chart.
const DefaultsFile = "values/chart-defaults.yaml"

// scriptPath is the chart's pod script: the facts are fragments of it, not the script.
const scriptPath = ".spec.template.spec.containers[0].args[0]"

// Check compares the facts with a reference directory of real renders (its layout is what
// HelmCommands writes: <case RenderFile>, values/<case ValuesFile>, values/chart-defaults.yaml)
// and returns every difference: an object the chart renders that the facts lack or the other way
// round, a field the facts set that the render has otherwise, a values file or default that is
// not the reference's. An error is a directory that cannot be read.
func Check(dir string) ([]string, error) {
	var diffs []string
	defaults, err := readYAML(filepath.Join(dir, DefaultsFile))
	if err != nil {
		return nil, err
	}
	m, _ := defaults.(map[string]any)
	diffs = append(diffs, diffValues("chart defaults", Flatten(DefaultValues()), Flatten(m))...)
	for _, c := range Cases {
		d, err := checkCase(dir, c)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

func checkCase(dir string, c Case) ([]string, error) {
	var diffs []string
	if c.ValuesFile != "" {
		ref, err := readYAML(filepath.Join(dir, "values", c.ValuesFile))
		if err != nil {
			return nil, err
		}
		var ours map[string]any
		if err := yaml.Unmarshal([]byte(c.Values), &ours); err != nil {
			return nil, fmt.Errorf("our values: %w", err)
		}
		m, _ := ref.(map[string]any)
		diffs = append(diffs, diffValues(c.Name+" values", Flatten(ours), Flatten(m))...)
	}
	stream, err := os.ReadFile(filepath.Join(dir, c.RenderFile))
	if err != nil {
		return nil, err
	}
	real, order, err := decodeRender(stream)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.RenderFile, err)
	}
	var ids []string
	for _, id := range c.IDs() {
		ids = append(ids, id.Kind+"/"+id.Name)
	}
	slices.Sort(ids)
	slices.Sort(order)
	if !slices.Equal(ids, order) {
		diffs = append(diffs, fmt.Sprintf("%s: objects: facts %v, render %v", c.Name, ids, order))
	}
	for _, o := range c.Objects() {
		ours, err := toMap(o)
		if err != nil {
			return nil, err
		}
		delete(ours, "status")
		key := fmt.Sprintf("%s/%s", ours["kind"], ours["metadata"].(map[string]any)["name"])
		r, ok := real[key]
		if !ok {
			continue // reported with the object lists
		}
		for _, d := range subset("", ours, r) {
			diffs = append(diffs, fmt.Sprintf("%s: %s %s", c.Name, key, d))
		}
	}
	return diffs, nil
}

// subset returns where ours, a fact, is not in real: maps need every key ours sets (unset
// fields, nulls and empty maps are no fact), lists the same length and elements, scalars equal.
func subset(path string, ours, real any) []string {
	switch o := ours.(type) {
	case map[string]any:
		r, ok := real.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: facts %v, render %v", path, ours, real)}
		}
		var diffs []string
		for _, k := range sortedKeys(o) {
			v := o[k]
			if v == nil || isEmptyMap(v) {
				continue
			}
			rv, ok := r[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: facts %v, render has none", path, k, v))
				continue
			}
			diffs = append(diffs, subset(path+"."+k, v, rv)...)
		}
		return diffs
	case []any:
		r, ok := real.([]any)
		if !ok || len(r) != len(o) {
			return []string{fmt.Sprintf("%s: facts %v, render %v", path, ours, real)}
		}
		var diffs []string
		for i := range o {
			diffs = append(diffs, subset(fmt.Sprintf("%s[%d]", path, i), o[i], r[i])...)
		}
		return diffs
	case string:
		r, _ := real.(string)
		if path == scriptPath {
			var missing []string
			for _, f := range ScriptFragments {
				if !strings.Contains(r, f) {
					missing = append(missing, f)
				}
			}
			if len(missing) > 0 {
				return []string{fmt.Sprintf("%s: the chart's script lacks %q", path, missing)}
			}
			return nil
		}
		if sameJSON(o, r) {
			return nil
		}
	}
	if !reflect.DeepEqual(ours, real) {
		return []string{fmt.Sprintf("%s: facts %v, render %v", path, ours, real)}
	}
	return nil
}

// sameJSON compares two JSON documents (peers.json) by value, not by layout.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func isEmptyMap(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

func diffValues(what string, ours, ref map[string]any) []string {
	var diffs []string
	keys := sortedKeys(ours)
	for k := range ref {
		if _, ok := ours[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		o, inOurs := ours[k]
		r, inRef := ref[k]
		if inOurs != inRef || !reflect.DeepEqual(o, r) {
			diffs = append(diffs, fmt.Sprintf("%s: %s: facts %v (set: %v), reference %v (set: %v)", what, k, o, inOurs, r, inRef))
		}
	}
	return diffs
}

// toMap is an object as the JSON the API would see, numbers as float64 like a decoded render.
func toMap(o runtime.Object) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func readYAML(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// decodeRender reads a multi-document render into objects by Kind/name.
func decodeRender(stream []byte) (map[string]map[string]any, []string, error) {
	objs := map[string]map[string]any{}
	var ids []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, ids, nil
		}
		if err != nil {
			return nil, nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, nil, err
		}
		if m == nil {
			continue // a document of comments only
		}
		meta, _ := m["metadata"].(map[string]any)
		id := fmt.Sprintf("%v/%v", m["kind"], meta["name"])
		objs[id] = m
		ids = append(ids, id)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteValues writes each case's values file under dir/values and returns the commands that
// produce the rest of a reference directory with Helm (chart repository https://rqlite.github.io/helm-charts).
func WriteValues(dir string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "values"), 0o755); err != nil {
		return nil, err
	}
	cmds := []string{
		"helm repo add rqlite https://rqlite.github.io/helm-charts",
		fmt.Sprintf("helm show values rqlite/rqlite --version 2.0.0 > %s", filepath.Join(dir, DefaultsFile)),
	}
	for _, c := range Cases {
		values := ""
		if c.ValuesFile != "" {
			p := filepath.Join(dir, "values", c.ValuesFile)
			if err := os.WriteFile(p, []byte(c.Values), 0o644); err != nil {
				return nil, err
			}
			values = " -f " + p
		}
		cmds = append(cmds, fmt.Sprintf("helm template %s rqlite/rqlite --version 2.0.0 --namespace %s%s > %s",
			Release, Namespace, values, filepath.Join(dir, c.RenderFile)))
	}
	return cmds, nil
}
