// Package render turns the model of a cluster into typed Kubernetes objects and encodes them as
// deterministic YAML. It reads the model only; every name and label comes from there.
package render

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
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
	// Annotations of tools and orchestrators describe the spec object itself (v1alpha1's rule);
	// the user's own describe the cluster and go on every object.
	for k, v := range c.Spec.Metadata.Annotations {
		if !v1alpha1.SpecOnlyAnnotation(k) {
			m.Annotations[k] = v
		}
	}
	return m
}

func ptr[T any](v T) *T { return &v }
