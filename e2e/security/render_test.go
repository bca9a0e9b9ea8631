package security

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// rendered is one spec's objects, looked up by kind and name.
type rendered struct {
	objs []render.Object
}

// renderSpec runs the whole pipeline on a spec document and fails on any error.
func renderSpec(t *testing.T, doc string) *rendered {
	t.Helper()
	res := generate.FromYAML([]byte(doc))
	require.False(t, res.Problems.HasErrors(), "the test spec must be valid: %v", res.Problems)
	require.NotEmpty(t, res.Objects)
	return &rendered{objs: res.Objects}
}

func find[T render.Object](t *testing.T, r *rendered, name string) T {
	t.Helper()
	var names []string
	for _, o := range r.objs {
		if x, ok := o.(T); ok {
			if o.GetName() == name {
				return x
			}
			names = append(names, o.GetName())
		}
	}
	var zero T
	t.Fatalf("render has no %T named %q (has %s)", zero, name, strings.Join(names, ", "))
	return zero
}

func (r *rendered) statefulSet(t *testing.T, name string) *appsv1.StatefulSet {
	t.Helper()
	return find[*appsv1.StatefulSet](t, r, name)
}

func (r *rendered) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	return find[*corev1.ConfigMap](t, r, name)
}

func (r *rendered) certificate(t *testing.T, name string) *render.Certificate {
	t.Helper()
	return find[*render.Certificate](t, r, name)
}

func (r *rendered) role(t *testing.T, name string) *rbacv1.Role {
	t.Helper()
	return find[*rbacv1.Role](t, r, name)
}

// shrinkJob is the one rendered Job; its name carries a hash of its template.
func (r *rendered) shrinkJob(t *testing.T) *batchv1.Job {
	t.Helper()
	var jobs []*batchv1.Job
	for _, o := range r.objs {
		if j, ok := o.(*batchv1.Job); ok {
			jobs = append(jobs, j)
		}
	}
	require.Len(t, jobs, 1, "one shrink Job per render")
	return jobs[0]
}

func container(t *testing.T, pod *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	t.Fatalf("pod has no container %q", name)
	return nil
}
