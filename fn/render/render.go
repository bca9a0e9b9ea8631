// Package render turns the model of a cluster into typed Kubernetes objects and encodes them as
// deterministic YAML. It reads the model only; every name and label comes from there.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/model"
	"go.yaml.in/yaml/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object is a typed Kubernetes object with its TypeMeta filled in.
type Object interface {
	metav1.Object
	runtime.Object
}

// Objects renders every object of a cluster in apply order: identities and configuration first,
// then Services, workloads and the policies that refer to them.
func Objects(c *model.Cluster) []Object {
	objs := []Object{serviceAccount(c), configMap(c)}
	objs = append(objs, certificates(c)...)
	for _, p := range c.Pools() {
		objs = append(objs, clientService(c, p), headlessService(c, p))
	}
	shrink := shrinkObjects(c)
	for _, p := range c.Pools() {
		sts := statefulSet(c, p)
		if !p.ReadOnly && len(shrink) > 0 && c.Namespace != "" {
			job := shrink[len(shrink)-1]
			sts.Annotations[kptDependsOn] = fmt.Sprintf("batch/namespaces/%s/Job/%s", c.Namespace, job.GetName())
		}
		objs = append(objs, sts)
	}
	for _, p := range c.Pools() {
		objs = append(objs, podDisruptionBudget(c, p))
	}
	if hpa := horizontalPodAutoscaler(c); hpa != nil {
		objs = append(objs, hpa)
	}
	objs = append(objs, networkPolicies(c)...)
	if pm := podMonitor(c); pm != nil {
		objs = append(objs, pm)
	}
	return append(objs, shrink...)
}

// meta is the ObjectMeta shared by every generated object of a component.
func meta(c *model.Cluster, name, component string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:        name,
		Namespace:   c.Namespace,
		Labels:      c.Labels(component),
		Annotations: map[string]string{model.AnnotationOwner: c.Name},
	}
	for k, v := range c.Spec.Metadata.Annotations {
		if isToolAnnotation(k) {
			continue
		}
		m.Annotations[k] = v
	}
	return m
}

// isToolAnnotation reports annotations that orchestrators put on the spec itself (function
// declaration, local-config marker, file paths). They describe the spec, not the cluster, and
// copying them would, for example, mark every generated object as local-config.
func isToolAnnotation(k string) bool {
	for _, prefix := range []string{"config.kubernetes.io/", "internal.config.kubernetes.io/", "config.k8s.io/", "kustomize.config.k8s.io/", "kpt.dev/", "kubectl.kubernetes.io/"} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Encode writes one object as YAML with sorted keys. Fields that the typed structs always emit but
// that mean nothing in a manifest (status, null values) are dropped, so the bytes depend only on
// what the object says.
//
// The bytes are those of sigs.k8s.io/yaml.Marshal, which renders with go-yaml v2 too, but without
// its detour: it would marshal the map to JSON once more and parse that JSON with the YAML parser
// only to learn which numbers are integers, and that detour was two thirds of the time of a whole
// render (bench/). Decoding with UseNumber keeps that knowledge instead.
func Encode(o Object) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
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
	out, err := yaml.Marshal(pruneNulls(m))
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s as YAML: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	return out, nil
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

// pruneNulls also turns JSON numbers into the Go numbers go-yaml writes as YAML numbers: int64
// when the number is an integer (as go-yaml would have parsed it), float64 otherwise.
func pruneNulls(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = pruneNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = pruneNulls(e)
		}
	}
	return v
}

func ptr[T any](v T) *T { return &v }
