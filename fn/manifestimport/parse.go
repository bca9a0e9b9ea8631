package manifestimport

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// objects are the manifests read from the input files, by kind.
type objects struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	// other are objects the import does not read (kind/name), reported as such.
	other []string
}

type typeMeta struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Metadata   struct{ Name string } `json:"metadata"`
	Items      []map[string]any      `json:"items"`
}

// parse reads YAML streams of manifests: files as the guide ships them, hand-written ones, or a
// `kubectl get -o yaml` dump (a List whose items are the objects).
func parse(files ...[]byte) (*objects, error) {
	out := &objects{}
	for i, f := range files {
		for j, doc := range splitDocuments(f) {
			if err := out.add(doc); err != nil {
				return nil, fmt.Errorf("file %d, document %d: %w", i+1, j+1, err)
			}
		}
	}
	return out, nil
}

func (o *objects) add(doc []byte) error {
	var tm typeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(tm.Kind, "List") && tm.APIVersion == "v1":
		for _, it := range tm.Items {
			b, err := yaml.Marshal(it)
			if err != nil {
				return err
			}
			if err := o.add(b); err != nil {
				return err
			}
		}
	case tm.APIVersion == "apps/v1" && tm.Kind == "StatefulSet":
		var s appsv1.StatefulSet
		if err := yaml.UnmarshalStrict(doc, &s); err != nil {
			return fmt.Errorf("reading StatefulSet %s: %w", tm.Metadata.Name, err)
		}
		o.statefulSets = append(o.statefulSets, &s)
	case tm.APIVersion == "v1" && tm.Kind == "Service":
		var s corev1.Service
		if err := yaml.UnmarshalStrict(doc, &s); err != nil {
			return fmt.Errorf("reading Service %s: %w", tm.Metadata.Name, err)
		}
		o.services = append(o.services, &s)
	case tm.Kind == "":
		return errors.New("not a Kubernetes object (no kind)")
	default:
		o.other = append(o.other, tm.Kind+"/"+tm.Metadata.Name)
	}
	return nil
}

// splitDocuments splits a YAML stream at its `---` lines, leaving out empty documents.
func splitDocuments(b []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		// drop the rest of the separator line (e.g. "--- # comment")
		if i := bytes.IndexByte(d, '\n'); i >= 0 && len(bytes.TrimSpace(d[:i])) > 0 && bytes.HasPrefix(bytes.TrimSpace(d[:i]), []byte("#")) {
			d = d[i:]
		}
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

// Objects reads manifests as Import does and returns the StatefulSets and Services, each in
// namespace ns unless it names its own, for comparing with a render (`rqlite-fn plan
// --manifests`); the kinds it does not read are returned by kind/name.
func Objects(ns string, files ...[]byte) ([]*appsv1.StatefulSet, []*corev1.Service, []string, error) {
	o, err := parse(files...)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, s := range o.statefulSets {
		if s.Namespace == "" {
			s.Namespace = ns
		}
	}
	for _, s := range o.services {
		if s.Namespace == "" {
			s.Namespace = ns
		}
	}
	return o.statefulSets, o.services, o.other, nil
}
