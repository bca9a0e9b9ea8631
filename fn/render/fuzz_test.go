package render_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/render"
	yaml2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// FuzzYAMLWriter checks the writer by what readers make of its output, not by its bytes (that is
// TestFastItemMatchesSlowPath): a tree written as a document and read back by sigs.k8s.io/yaml
// (kubectl's reader) must be the tree that went in; written as a ResourceList item with kpt's
// annotations and read back by go-yaml v3 (kyaml's parser, kustomize and kpt), the tree plus those
// annotations. Trees come from the fuzzer's bytes: nested mappings, sequences, strings, integers
// and booleans, the shapes Tree produces, under a metadata.annotations mapping so the extra
// annotations have a place. Where the writer declines, go-yaml v2 (what Encode falls back to) must
// round-trip instead.
func FuzzYAMLWriter(f *testing.F) {
	f.Add([]byte("\x03\x02akey\x00value"), "a", "b")
	f.Add([]byte("\x03\x03\x00yes\x00no\x01\x00\x00\x00\x00\x00\x00\x00\x07\x02\x01"), "0o17", "<<")
	f.Add([]byte("\x03\x02\x04\x03\x00line\nline\n\x00 lead\x00a: b"), "config.kubernetes.io/index", "12")
	f.Add([]byte("\x03\x01\x03\x01\x04\x00"), "-", "~")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		key, value = strings.ToValidUTF8(key, "\uFFFD"), strings.ToValidUTF8(value, "\uFFFD")
		b := builder{data: data}
		tree := map[string]any{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata":   map[string]any{"name": "cm", "annotations": map[string]any{"a": b.str()}},
		}
		if extra, ok := b.value(0).(map[string]any); ok {
			for k, v := range extra {
				if _, fixed := tree[k]; !fixed {
					tree[k] = v
				}
			}
		}
		if doc, ok := render.AppendDocument(nil, tree); ok {
			if got := readDocument(t, doc); !reflect.DeepEqual(got, normalize(tree)) {
				t.Fatalf("document read back differs:\n%s\ngot  %#v\nwant %#v", doc, got, normalize(tree))
			}
		} else if doc, err := yaml2.Marshal(tree); err == nil && !hasKey(tree, "<<") {
			// go-yaml writes a key "<<" plain, and reads it back as a merge key; no generated
			// object has one (keys are field names, label and annotation keys, ConfigMap keys).
			if got := readDocument(t, doc); !reflect.DeepEqual(got, normalize(tree)) {
				t.Fatalf("go-yaml v2's document read back differs:\n%s", doc)
			}
		}
		extra := []render.Annotation{{Key: "internal.config.kubernetes.io/path", Value: "dir/x.generated.yaml"}, {Key: key, Value: value}}
		if _, taken := tree["metadata"].(map[string]any)["annotations"].(map[string]any)[key]; taken || key == "internal.config.kubernetes.io/path" {
			extra = extra[:1]
		}
		item, ok := render.AppendItem(nil, tree, extra)
		if !ok {
			return
		}
		var list []any
		if err := yaml.Unmarshal(item, &list); err != nil || len(list) != 1 {
			t.Fatalf("item does not read back as one item (%v):\n%s", err, item)
		}
		want := normalize(tree).(map[string]any)
		anns := want["metadata"].(map[string]any)["annotations"].(map[string]any)
		for _, a := range extra {
			anns[a.Key] = a.Value
		}
		if got := normalize(list[0]); !reflect.DeepEqual(got, want) {
			t.Fatalf("item read back by go-yaml v3 differs:\n%s\ngot  %#v\nwant %#v", item, got, want)
		}
	})
}

// readDocument reads YAML as kubectl does (sigs.k8s.io/yaml), keeping integers exact.
func readDocument(t *testing.T, doc []byte) any {
	t.Helper()
	j, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatalf("not YAML (%v):\n%s", err, doc)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return normalize(v)
}

// normalize brings the trees of the writer and of the two readers to one form: integers as
// decimal text, mappings with string keys.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case json.Number:
		return string(x)
	}
	return v
}

// builder makes a tree from the fuzzer's bytes: a tag byte, then the value.
type builder struct {
	data []byte
}

func (b *builder) byte() byte {
	if len(b.data) == 0 {
		return 0
	}
	c := b.data[0]
	b.data = b.data[1:]
	return c
}

// str is a length byte and that many bytes.
func (b *builder) str() string {
	n := min(int(b.byte()), len(b.data))
	// Generated objects hold valid UTF-8 only: Tree reads them from encoding/json.
	s := strings.ToValidUTF8(string(b.data[:n]), "\uFFFD")
	b.data = b.data[n:]
	return s
}

func (b *builder) value(depth int) any {
	switch tag := b.byte() % 5; {
	case tag == 1:
		var buf [8]byte
		n := copy(buf[:], b.data)
		b.data = b.data[n:]
		return int64(binary.LittleEndian.Uint64(buf[:]))
	case tag == 2:
		return b.byte()%2 == 1
	case tag == 3 && depth < 4:
		m := map[string]any{}
		for range b.byte() % 5 {
			m[b.str()] = b.value(depth + 1)
		}
		return m
	case tag == 4 && depth < 4:
		s := []any{}
		for range b.byte() % 5 {
			s = append(s, b.value(depth+1))
		}
		return s
	}
	return b.str()
}

func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == key || hasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKey(e, key) {
				return true
			}
		}
	}
	return false
}
