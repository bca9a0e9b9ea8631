package render

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeTree must read json.Marshal's output as encoding/json with UseNumber does, with nulls
// dropped from objects and numbers made int64 or float64.
func TestDecodeTree(t *testing.T) {
	in := map[string]any{
		"plain": "text", "escaped": "quote \" backslash \\ newline \n tab \t <&> \u2028 \x01 ümlaut",
		"int": 42, "negative": -7, "big": uint64(1) << 63, "float": 2.5, "exp": 1e-7, "true": true, "false": false,
		"null": nil, "empty": map[string]any{}, "list": []any{1, "a", map[string]any{"n": nil, "k": "v"}, []any{}},
		"nested": map[string]any{"deeper": map[string]any{"x": "\"quoted\""}},
	}
	j, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTree(j)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"plain": "text", "escaped": "quote \" backslash \\ newline \n tab \t <&> \u2028 \x01 ümlaut",
		"int": int64(42), "negative": int64(-7), "big": float64(1 << 63), "float": 2.5, "exp": 1e-7, "true": true, "false": false,
		"empty": map[string]any{}, "list": []any{int64(1), "a", map[string]any{"k": "v"}, []any{}},
		"nested": map[string]any{"deeper": map[string]any{"x": "\"quoted\""}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	// Escapes json.Marshal does not write but JSON allows: decoded as encoding/json decodes them.
	for _, raw := range []string{`{"a":"\ud83d\ude00 \/ \b\f\r"}`, `{"a":"\ud800 lone"}`, `{"a":"x\u00e9y"}`} {
		var ref map[string]any
		if err := json.Unmarshal([]byte(raw), &ref); err != nil {
			t.Fatal(err)
		}
		got, err := decodeTree([]byte(raw))
		if err != nil || !reflect.DeepEqual(got, ref) {
			t.Errorf("%s: %q, %v; encoding/json: %q", raw, got, err, ref)
		}
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x`, `{"a":"x\`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":tru}`, `{} x`, `{"a":[1 2]}`} {
		if _, err := decodeTree([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
