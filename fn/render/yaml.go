package render

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	yaml2 "go.yaml.in/yaml/v2"
)

// A YAML writer for the trees of generated objects (Tree), in the two forms the function writes
// them: as a document, byte for byte what go-yaml v2 writes (Encode, `rqlite-fn render`), and as an
// element of a ResourceList's items, byte for byte what the kpt functions SDK wrote (go-yaml v2's
// document parsed by go-yaml v3 and written again inside the list, indent 2, sequences in mappings
// not indented; fn/krm). Both libraries took most of the time of a render (docs/benchmarks.md);
// this writer takes a fraction of it. It writes only what it can promise byte for byte, which
// covers the objects this function generates; for anything else (floats, nulls, nested sequences,
// text that go-yaml would fold at column 80, non-ASCII, unusual block scalars) it says so and the
// caller takes the slow path through the libraries. yaml_test.go compares it with them on every
// generated object and on random strings, and bench/equivalence_test.go end to end.

// Annotation is a key and value appended to metadata.annotations after the object's own, in order,
// the way the SDK's SetAnnotation adds one (kpt's path and index annotations).
type Annotation struct{ Key, Value string }

// AppendItem writes tree as an element of a block sequence at indent 0 ("- " and the mapping at
// indent 2), with extra appended to metadata.annotations. ok is false when the object needs the
// slow path; buf is then returned unchanged.
func AppendItem(buf []byte, tree map[string]any, extra []Annotation) (_ []byte, ok bool) {
	return appendYAML(buf, tree, true, extra)
}

// appendDocument writes tree as go-yaml v2 writes a document; ok as for AppendItem.
func appendDocument(buf []byte, tree map[string]any) ([]byte, bool) {
	return appendYAML(buf, tree, false, nil)
}

func appendYAML(buf []byte, tree map[string]any, item bool, extra []Annotation) (_ []byte, ok bool) {
	scratch := scratchBuffers.Get().(*[]byte)
	defer scratchBuffers.Put(scratch)
	w := itemWriter{buf: (*scratch)[:0], extra: extra, item: item}
	if item {
		w.buf = append(w.buf, "- "...)
		ok = len(tree) > 0 && w.mapping(tree, 2, true, "top")
	} else {
		ok = len(tree) > 0 && w.mapping(tree, 0, false, "top")
	}
	*scratch = w.buf
	if !ok {
		return buf, false
	}
	return append(buf, w.buf...), true
}

// scratchBuffers hold an object while it is written, so that each costs one allocation of its
// final size instead of a dozen as its buffer grows.
var scratchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

type itemWriter struct {
	buf   []byte
	extra []Annotation
	// item: the ResourceList form, which go-yaml v3 wrote; else go-yaml v2's document.
	item bool
}

// mapping writes m at indent; inline means the first key goes on the current line (after "- ").
// where says which mapping m is: "top" (the object), "metadata" (its metadata), "annotations" (its
// annotations) or "" (any other), so that extra lands in the object's own annotations.
func (w *itemWriter) mapping(m map[string]any, indent int, inline bool, where string) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, keyCompare)
	if where == "metadata" && len(w.extra) > 0 {
		if _, ok := m["annotations"].(map[string]any); !ok {
			return false // the SDK would add the mapping at the end; not worth a path of its own
		}
	}
	for i, k := range keys {
		if i > 0 || !inline {
			w.indent(indent)
		}
		if st, ok := style(k); !ok || st != plainStyle || len(k) > 128 {
			return false
		}
		w.buf = append(w.buf, k...)
		w.buf = append(w.buf, ':')
		child := ""
		if where == "top" && k == "metadata" {
			child = "metadata"
		} else if where == "metadata" && k == "annotations" {
			child = "annotations"
		}
		if !w.value(m[k], indent, indent+len(k)+2, false, child) {
			return false
		}
	}
	if where == "annotations" {
		for _, a := range w.extra {
			if _, dup := m[a.Key]; dup {
				return false // the SDK replaces in place; generated objects never have these
			}
			w.indent(indent)
			if st, ok := style(a.Key); !ok || st != plainStyle || len(a.Key) > 128 {
				return false
			}
			w.buf = append(w.buf, a.Key...)
			w.buf = append(w.buf, ':')
			if !w.value(a.Value, indent, indent+len(a.Key)+2, false, "") {
				return false
			}
		}
	}
	return true
}

func (w *itemWriter) indent(n int) {
	for range n {
		w.buf = append(w.buf, ' ')
	}
}

// value writes v after "key:" or "-" (inSeq). indent is that of the key or the dash; column is
// where a scalar would start.
func (w *itemWriter) value(v any, indent, column int, inSeq bool, where string) bool {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			w.buf = append(w.buf, " {}\n"...)
			return true
		}
		if inSeq {
			w.buf = append(w.buf, ' ')
			return w.mapping(x, indent+2, true, where)
		}
		w.buf = append(w.buf, '\n')
		return w.mapping(x, indent+2, false, where)
	case []any:
		if len(x) == 0 {
			w.buf = append(w.buf, " []\n"...)
			return true
		}
		if inSeq {
			return false // a sequence in a sequence: never generated
		}
		w.buf = append(w.buf, '\n')
		for _, e := range x {
			w.indent(indent)
			w.buf = append(w.buf, '-')
			if !w.value(e, indent, indent+2, true, "") {
				return false
			}
		}
		return true
	case string:
		return w.str(x, indent+2, column)
	case int64:
		w.buf = append(w.buf, ' ')
		w.buf = strconv.AppendInt(w.buf, x, 10)
		w.buf = append(w.buf, '\n')
		return true
	case bool:
		w.buf = append(w.buf, ' ')
		w.buf = strconv.AppendBool(w.buf, x)
		w.buf = append(w.buf, '\n')
		return true
	}
	return false // floats and anything else: go-yaml's own formatting
}

// str writes a string value starting at column; block is the indent of a literal's lines.
func (w *itemWriter) str(s string, block, column int) bool {
	st, ok := style(s)
	if !ok {
		return false
	}
	if st == literalStyle {
		return w.literal(s, block)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	// go-yaml breaks a quoted or plain line at a space once it is past column 80; a value that
	// ends before that cannot be folded.
	quotes := 0
	if st != plainStyle {
		quotes = 2
	}
	if strings.IndexByte(s, ' ') >= 0 && column+len(s)+quotes > 80 {
		return false
	}
	w.buf = append(w.buf, ' ')
	switch st {
	case plainStyle:
		w.buf = append(w.buf, s...)
	case doubleStyle:
		if strings.ContainsAny(s, `"\`) {
			return false
		}
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
	case singleStyle:
		w.buf = append(w.buf, '\'')
		w.buf = append(w.buf, strings.ReplaceAll(s, "'", "''")...)
		w.buf = append(w.buf, '\'')
	}
	w.buf = append(w.buf, '\n')
	return true
}

// literal writes a block scalar ("|" or "|-") whose lines go at indent.
func (w *itemWriter) literal(s string, indent int) bool {
	if s == "" || s[0] == ' ' || s[0] == '\n' || strings.HasSuffix(s, "\n\n") {
		return false // indentation indicator or "|+": rare enough for the slow path
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c > 0x7e) && c != '\n' {
			return false
		}
	}
	body, clip := strings.CutSuffix(s, "\n")
	if clip {
		w.buf = append(w.buf, " |\n"...)
	} else {
		w.buf = append(w.buf, " |-\n"...)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" {
			w.indent(indent)
			w.buf = append(w.buf, line...)
		}
		w.buf = append(w.buf, '\n')
	}
	return true
}

type scalarStyle byte

const (
	plainStyle scalarStyle = iota
	doubleStyle
	singleStyle
	literalStyle
)

// styles caches the style go-yaml v2 gives strings that are not obviously plain: the same few
// (quantities, ports, scripts) come back for every spec. A map under a lock rather than a
// sync.Map, whose Load boxes every key it is asked for.
var styles struct {
	sync.RWMutex
	m map[string]scalarStyle
}

// style is the style go-yaml v2 writes s in, which the SDK's re-encoding keeps. Names, labels and
// most values are decided here; the rest are asked of go-yaml once. ok is false for a style the
// writer does not produce (folded).
func style(s string) (scalarStyle, bool) {
	if obviouslyPlain(s) {
		return plainStyle, true
	}
	if s == "<<" {
		return 0, false // go-yaml v3 reads it back as a merge key and writes a tag
	}
	styles.RLock()
	st, ok := styles.m[s]
	styles.RUnlock()
	if ok {
		return st, true
	}
	out, err := yaml2.Marshal(s)
	if err != nil || len(out) == 0 {
		return 0, false
	}
	switch out[0] {
	case '|':
		st = literalStyle
	case '"':
		st = doubleStyle
	case '\'':
		st = singleStyle
	case '>':
		return 0, false
	default:
		st = plainStyle
	}
	styles.Lock()
	if styles.m == nil {
		styles.m = map[string]scalarStyle{}
	}
	styles.m[s] = st
	styles.Unlock()
	return st, true
}

// obviouslyPlain: strings that go-yaml writes plain and reads back as strings, decided without
// asking it: flags, paths, names and quantities, most of what a manifest holds.
//
//   - a letter, "/", or one or two "-" and a letter, then letters, digits and -._/=$()?&{},[]@%+#'"
//     or ":" (not last). Without spaces no comment or "key: value" can start, and with such a
//     start the string cannot be a number, a date, an indicator or a document marker;
//   - digits and a Kubernetes quantity suffix (10Gi, 250m): never a number or a date in YAML.
//
// Words YAML reads as booleans or null are excluded. TestFastItemMatchesSlowPath checks the rule
// against go-yaml.
func obviouslyPlain(s string) bool {
	if s == "" {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		return isQuantity(s)
	}
	rest := s[1:]
	switch {
	case isLetter(s[0]) || s[0] == '/':
	case s[0] == '-' && len(s) > 1 && isLetter(s[1]):
	case strings.HasPrefix(s, "--") && len(s) > 2 && isLetter(s[2]):
		rest = s[2:]
	default:
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if isLetter(c) || c >= '0' && c <= '9' || strings.IndexByte("-._/=$()?&{},[]@%+#'\"", c) >= 0 {
			continue
		}
		if c == ':' && i < len(rest)-1 {
			continue
		}
		return false
	}
	if len(s) > 5 {
		return true
	}
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// isQuantity: digits, then one of the suffixes of Kubernetes quantities and durations.
func isQuantity(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	switch s[i:] {
	case "m", "k", "M", "G", "T", "P", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "s", "h":
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func keyCompare(a, b string) int {
	switch {
	case a == b:
		return 0
	case keyLess(a, b):
		return -1
	}
	return 1
}

// keyLess is the order go-yaml v2 writes map keys in: character by character, letters before
// other characters, and runs of digits compared as numbers ("a2" before "a10").
func keyLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return naturalLess([]byte(a), []byte(b)) // the conversions do not escape: no copies
	}
	return naturalLess([]rune(a), []rune(b))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func naturalLess[T byte | rune](ar, br []T) bool {
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al, bl := unicode.IsLetter(rune(ar[i])), unicode.IsLetter(rune(br[i]))
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		// Neither is a letter: compare the numbers that start here. A run that began earlier
		// with a non-zero digit makes leading zeros here significant.
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(rune(ar[j])); j-- {
				if ar[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		ai, bi := i, i
		for ; ai < len(ar) && unicode.IsDigit(rune(ar[ai])); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for ; bi < len(br) && unicode.IsDigit(rune(br[bi])); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}
