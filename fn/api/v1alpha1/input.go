package v1alpha1

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Input limits. A spec is a page of YAML; the limits sit far above any real one and far below what
// hurts: without them `rqlite-fn render /dev/zero` read until the process died, and a spec with a
// 50 MB annotation rendered 600 MB of YAML in a 3.2 GB process.
const (
	// MaxSpecBytes bounds one RqliteSpec document.
	MaxSpecBytes = 4 << 20
	// MaxInputBytes bounds what is read at once: one file or stdin for `render`, the ResourceList on
	// stdin in KRM mode.
	MaxInputBytes = 64 << 20
	// MaxAnnotationBytes is what the API server accepts for the annotations of one object, keys and
	// values together (k8s.io/apimachinery/pkg/api/validation.TotalAnnotationSizeLimitB).
	MaxAnnotationBytes = 256 << 10
)

// FormatBytes writes a limit the way the limits above are documented: 4 MiB, 256 KiB.
func FormatBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckSpecSize refuses a spec of n bytes when it is over MaxSpecBytes. Decode checks every
// document; the KRM glue checks a spec before it writes the spec out for Decode, since writing out
// megabytes of YAML takes seconds.
func CheckSpecSize(n int) Problems {
	if n <= MaxSpecBytes {
		return nil
	}
	return Problems{{Message: fmt.Sprintf("the spec is larger than %s, the limit for one spec", FormatBytes(MaxSpecBytes)), Fix: "keep large data out of the spec"}}
}

// checkYAML reports what the conversion to JSON (sigs.k8s.io/yaml, as kubectl reads manifests)
// would hide: a key given twice in one mapping, where the last silently wins, and aliases and merge
// keys. Aliases are refused rather than bounded: a spec is short enough to write out, and an alias
// is expanded in place, so a few lines of nested aliases grow into gigabytes (billion laughs)
// before any other check runs. ok is false when doc is not YAML at all.
func checkYAML(doc []byte) (ps Problems, ok bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		ps.add("", fmt.Sprintf("not valid YAML: %v", err), "")
		return ps, false
	}
	w := yamlWalker{ps: &ps}
	w.walk("", &root)
	if w.aliases > 1 {
		ps[w.firstAlias].Message += fmt.Sprintf(" (and %d more aliases)", w.aliases-1)
	}
	return ps, true
}

type yamlWalker struct {
	ps *Problems
	// aliases counts the aliases; only the first is reported, with the count.
	aliases, firstAlias int
}

func (w *yamlWalker) walk(path string, n *yaml.Node) {
	ps := w.ps
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.walk(path, c)
		}
	case yaml.AliasNode:
		if w.aliases++; w.aliases == 1 {
			w.firstAlias = len(*ps)
			ps.addAt(n.Line, path, fmt.Sprintf("YAML alias *%s: aliases are not accepted in an RqliteSpec", n.Value), "write the value out")
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(fmt.Sprintf("%s[%d]", path, i), c)
		}
	case yaml.MappingNode:
		// Mappings in a spec are small: a slice beats a map until they are not.
		var seen []string
		var index map[string]bool
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMergeKey(k) {
				ps.addAt(k.Line, path, "YAML merge key <<: merge keys are not accepted in an RqliteSpec", "write the fields out")
				continue
			}
			key, ok := jsonKey(k)
			if !ok {
				w.walk(path, k) // a complex key: the JSON conversion refuses it, but not its aliases
				w.walk(path, v)
				continue
			}
			if index[key] || index == nil && slices.Contains(seen, key) {
				ps.addAt(k.Line, join(path, key), fmt.Sprintf("duplicate key: %s is set twice in the same mapping, and only the last would count", key), "keep one of them")
			} else if index != nil {
				index[key] = true
			} else if seen = append(seen, key); len(seen) > 16 {
				index = make(map[string]bool, 2*len(seen))
				for _, s := range seen {
					index[s] = true
				}
			}
			w.walk(join(path, key), v)
		}
	}
}

// isMergeKey: a plain << (or one tagged !!merge) is YAML 1.1's merge key, which sigs.k8s.io/yaml
// expands; a quoted "<<" is an ordinary key.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && (k.Tag == "!!merge" || k.Style == 0 && k.Value == "<<")
}

// jsonKey is the key sigs.k8s.io/yaml writes to JSON for a mapping key: the text of a string, or
// the JSON form of a number, boolean or null (YAML 1.1: yes, on and 0x10 are not strings), so that
// `1:` and `"1":` count as the same key, as they end up. ok is false for a key that is not a scalar.
func jsonKey(k *yaml.Node) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		return "", false
	}
	if k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 || k.Tag == "!!str" && k.Style&yaml.TaggedStyle != 0 || plainWord(k.Value) {
		return k.Value, true
	}
	j, err := sigsyaml.YAMLToJSON([]byte(k.Value + ": 0"))
	if err != nil {
		return k.Value, true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(j, &m); err != nil || len(m) != 1 {
		return k.Value, true
	}
	for key := range m {
		return key, true
	}
	return k.Value, true
}

// plainWord: a plain scalar that YAML 1.1 reads as a string and that needs no quoting in JSON: a
// letter, then letters, digits and -._/, and not one of the words YAML 1.1 reads as a boolean or
// null. Every field name and most map keys of a spec are such words.
func plainWord(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '/') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// checkAnnotationSizes bounds every annotation map of a spec by what the API server accepts for
// one object. The rendered objects combine some of them (the spec's metadata.annotations with a
// pool's podAnnotations, say); generate checks the objects themselves as well.
func checkAnnotationSizes(ps *Problems, s *RqliteSpec) {
	check := func(path string, m map[string]string) {
		if n := AnnotationBytes(m); n > MaxAnnotationBytes {
			ps.add(path, fmt.Sprintf("the annotations take %d bytes (keys and values); the API server accepts at most %s per object", n, FormatBytes(MaxAnnotationBytes)),
				"keep large data out of annotations (a ConfigMap, say)")
		}
	}
	check("metadata.annotations", s.Metadata.Annotations)
	check("spec.voters.podAnnotations", s.Spec.Voters.PodAnnotations)
	if s.Spec.ReadOnly != nil {
		check("spec.readOnly.podAnnotations", s.Spec.ReadOnly.PodAnnotations)
	}
	check("spec.service.annotations", s.Spec.Service.Annotations)
	check("spec.serviceAccount.annotations", s.Spec.ServiceAccount.Annotations)
}

// AnnotationBytes is the size the API server counts for a set of annotations: keys and values.
func AnnotationBytes(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}
