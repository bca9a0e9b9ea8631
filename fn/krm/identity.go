package krm

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// sameSpec reports whether an item is the functionConfig again, as kustomize passes a generator's
// config: the same object with annotations of kustomize's own (index, id). Anything else with the
// same name is a second spec for the same cluster.
func sameSpec(fc, item *yaml.Node) bool {
	return equalNodes(fc, item, "")
}

// addedByOrchestrator: annotations kustomize and kpt put on the objects they pass to a function,
// which say where the object is, not what it is.
func addedByOrchestrator(key string) bool {
	switch key {
	case pathAnnotation, legacyPathAnnotation, indexAnnotation, legacyIndexAnnotation:
		return true
	}
	return strings.HasPrefix(key, "internal.config.kubernetes.io/") || strings.HasPrefix(key, "config.k8s.io/")
}

func equalNodes(a, b *yaml.Node, path string) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.Value == b.Value && a.ShortTag() == b.ShortTag()
	case yaml.AliasNode:
		return a.Value == b.Value
	case yaml.MappingNode:
		pa, pb := pairs(a, path), pairs(b, path)
		if len(pa) != len(pb) {
			return false
		}
		for k, va := range pa {
			vb, ok := pb[k]
			if !ok || !equalNodes(va, vb, path+"."+k) {
				return false
			}
		}
		return true
	}
	if len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !equalNodes(a.Content[i], b.Content[i], path) {
			return false
		}
	}
	return true
}

// pairs is a mapping's entries by key, without the orchestrators' annotations; a repeated key
// counts once, so that the mappings then differ in size.
func pairs(m *yaml.Node, path string) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if path == ".metadata.annotations" && addedByOrchestrator(k) {
			continue
		}
		if _, dup := out[k]; dup {
			out[k+"\x00dup"] = m.Content[i+1]
			continue
		}
		out[k] = m.Content[i+1]
	}
	return out
}

// duplicateIdentityKey is the path of a key set twice where the function reads an item's
// identity and ownership (apiVersion, kind, metadata.name, namespace, annotations), "" when
// there is none. The function reads the first, kubectl the last; the two must not disagree about
// what an item is. Specs are checked in full when they are decoded.
func duplicateIdentityKey(it *Object) string {
	if it.node == nil {
		return ""
	}
	if k := repeatedKey(it.node); k != "" {
		return k
	}
	md := lookup(it.node, "metadata")
	if k := repeatedKey(md); k != "" {
		return "metadata." + k
	}
	if k := repeatedKey(lookup(md, "annotations")); k != "" {
		return "metadata.annotations." + k
	}
	return ""
}

func repeatedKey(m *yaml.Node) string {
	if m == nil || m.Kind != yaml.MappingNode {
		return ""
	}
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}

// scalarBytes is a lower bound of the size of a node written as YAML: the text of its scalars.
func scalarBytes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	size := len(n.Value)
	for _, c := range n.Content {
		size += scalarBytes(c)
	}
	return size
}
