package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v2"
)

// Encode writes one object as YAML with sorted keys. Fields that the typed structs always emit but
// that mean nothing in a manifest (status, null values) are dropped, so the bytes depend only on
// what the object says.
//
// The bytes are those of sigs.k8s.io/yaml.Marshal, which renders with go-yaml v2, without either
// library: sigs.k8s.io/yaml marshals the map to JSON once more and parses that JSON with the YAML
// parser only to learn which numbers are integers (Tree keeps that knowledge), and go-yaml's
// emitter was most of what remained (bench/). The writer in yaml.go produces go-yaml v2's bytes
// for what it knows and hands anything else to go-yaml v2 itself.
func Encode(o Object) ([]byte, error) {
	m, err := Tree(o)
	if err != nil {
		return nil, err
	}
	if out, ok := appendDocument(nil, m); ok {
		return out, nil
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s as YAML: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	return out, nil
}

// Tree is the object as Encode writes it, before the YAML: a JSON-shaped map without status and
// null values, whose numbers are int64 where they are integers and float64 otherwise (the Go types
// go-yaml writes as YAML numbers). The KRM function writes its ResourceList from this tree without
// going through go-yaml at all (fn/krm).
func Tree(o Object) (map[string]any, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	m, err := decodeTree(j)
	if err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		if vcts, ok := spec["volumeClaimTemplates"].([]any); ok {
			for _, v := range vcts {
				if vm, ok := v.(map[string]any); ok {
					delete(vm, "status")
				}
			}
		}
	}
	return m, nil
}

// EncodeAll writes a multi-document YAML stream.
func EncodeAll(objs []Object) ([]byte, error) {
	var out []byte
	for _, o := range objs {
		b, err := Encode(o)
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
	}
	return out, nil
}

// decodeTree reads what json.Marshal wrote into maps, slices, strings, booleans, int64 (integers,
// as go-yaml would have parsed them) and float64 (other numbers), leaving out null values. It is
// encoding/json's Decoder with UseNumber and a pass over the result, in one pass and a third of
// the time: the Decoder scans its input twice and allocates a json.Number per number. Its input
// is always the compact, valid JSON of json.Marshal.
func decodeTree(j []byte) (map[string]any, error) {
	d := treeDecoder{in: j}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.pos != len(j) {
		return nil, fmt.Errorf("unexpected %q after the object at offset %d", j[d.pos], d.pos)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object: %.20s", j)
	}
	return m, nil
}

type treeDecoder struct {
	in  []byte
	pos int
}

var errNull = errors.New("null")

func (d *treeDecoder) fail(what string) error {
	if d.pos >= len(d.in) {
		return fmt.Errorf("unexpected end of JSON, want %s", what)
	}
	return fmt.Errorf("unexpected %q at offset %d, want %s", d.in[d.pos], d.pos, what)
}

// value reads one value; null comes back as errNull for the caller to skip.
func (d *treeDecoder) value() (any, error) {
	if d.pos >= len(d.in) {
		return nil, d.fail("a value")
	}
	switch c := d.in[d.pos]; {
	case c == '{':
		d.pos++
		m := map[string]any{}
		if d.pos < len(d.in) && d.in[d.pos] == '}' {
			d.pos++
			return m, nil
		}
		for {
			if d.pos >= len(d.in) || d.in[d.pos] != '"' {
				return nil, d.fail("a key")
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if d.pos >= len(d.in) || d.in[d.pos] != ':' {
				return nil, d.fail(":")
			}
			d.pos++
			v, err := d.value()
			switch {
			case err == nil:
				m[k] = v
			case !errors.Is(err, errNull):
				return nil, err
			}
			if d.pos < len(d.in) && d.in[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.pos < len(d.in) && d.in[d.pos] == '}' {
				d.pos++
				return m, nil
			}
			return nil, d.fail(", or }")
		}
	case c == '[':
		d.pos++
		s := []any{}
		if d.pos < len(d.in) && d.in[d.pos] == ']' {
			d.pos++
			return s, nil
		}
		for {
			v, err := d.value()
			switch {
			case err == nil:
				s = append(s, v)
			case errors.Is(err, errNull):
				// encoding/json keeps a null element and the old pass left it as nil; json.Marshal
				// of the typed objects never writes one.
				s = append(s, nil)
			default:
				return nil, err
			}
			if d.pos < len(d.in) && d.in[d.pos] == ',' {
				d.pos++
				continue
			}
			if d.pos < len(d.in) && d.in[d.pos] == ']' {
				d.pos++
				return s, nil
			}
			return nil, d.fail(", or ]")
		}
	case c == '"':
		return d.str()
	case c == 't' && bytes.HasPrefix(d.in[d.pos:], []byte("true")):
		d.pos += 4
		return true, nil
	case c == 'f' && bytes.HasPrefix(d.in[d.pos:], []byte("false")):
		d.pos += 5
		return false, nil
	case c == 'n' && bytes.HasPrefix(d.in[d.pos:], []byte("null")):
		d.pos += 4
		return nil, errNull
	case c == '-' || c >= '0' && c <= '9':
		start := d.pos
		for d.pos < len(d.in) && strings.IndexByte("+-0123456789.eE", d.in[d.pos]) >= 0 {
			d.pos++
		}
		num := string(d.in[start:d.pos])
		if i, err := strconv.ParseInt(num, 10, 64); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(num, 64); err == nil {
			return f, nil
		}
		return num, nil // out of range for a float64: kept as text, as before
	}
	return nil, d.fail("a value")
}

// str reads a string at d.pos (on its opening quote). Strings without escapes, nearly all of them,
// are one slice of the input; the others (scripts, peers.json) are unescaped here.
func (d *treeDecoder) str() (string, error) {
	start := d.pos
	for i := start + 1; i < len(d.in); i++ {
		switch d.in[i] {
		case '"':
			d.pos = i + 1
			return string(d.in[start+1 : i]), nil
		case '\\':
			return d.escaped(start, i)
		}
	}
	d.pos = len(d.in)
	return "", d.fail("the end of a string")
}

// escaped continues str from the first backslash at i.
func (d *treeDecoder) escaped(start, i int) (string, error) {
	b := make([]byte, 0, 2*(i-start)+64)
	b = append(b, d.in[start+1:i]...)
	for i < len(d.in) {
		c := d.in[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(b), nil
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.in) {
			break
		}
		switch e := d.in[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n := d.hex4(i + 2)
			if n < 0 {
				d.pos = i
				return "", d.fail("four hex digits after \\u")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, n2 := d.hex4(i + 4); n2 >= 0 && d.in[i+2] == '\\' && d.in[i+3] == 'u' {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						r = pair
						i += 6
					}
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			d.pos = i
			return "", d.fail("an escape")
		}
		i += 2
	}
	d.pos = len(d.in)
	return "", d.fail("the end of a string")
}

// hex4 reads four hex digits at i; n is -1 when there are none.
func (d *treeDecoder) hex4(i int) (r rune, n int) {
	if i+4 > len(d.in) {
		return 0, -1
	}
	v, err := strconv.ParseUint(string(d.in[i:i+4]), 16, 32)
	if err != nil {
		return 0, -1
	}
	return rune(v), 4
}
