package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type env struct {
	t   *testing.T
	ns  string
	job string // the shrink Job of the last render
}

// newEnv gives a test its own Pod-Security-restricted namespace, with the node's images loaded.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	loadImages(t)
	ns := fmt.Sprintf("%s-%04x", prefix, rand.IntN(1<<16))
	testenv.CreateRestrictedNamespace(t, node.ControlPlane, ns)
	return &env{t: t, ns: ns}
}

// render runs the function in-process on a spec with the given number of voters.
func (e *env) render(voters int) []byte {
	e.t.Helper()
	return e.renderSpec(voters, "")
}

// renderSpec is render with more of the voters' pool spec (indented YAML under spec.voters).
func (e *env) renderSpec(voters int, pool string) []byte {
	e.t.Helper()
	spec := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: %s\nspec:\n  voters:\n    replicas: %d\n%s", e.ns, voters, pool)
	res := generate.FromYAML([]byte(spec))
	if res.Problems.HasErrors() {
		e.t.Fatalf("render %d voters: %v", voters, res.Problems)
	}
	out, err := render.EncodeAll(res.Objects)
	if err != nil {
		e.t.Fatal(err)
	}
	e.job = render.ShrinkJobName(res.Cluster)
	return out
}

// apply server-side applies a render; a Pod Security warning fails the test (the pods would be
// refused later, as events only).
func (e *env) apply(manifests []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	warnings, err := testenv.ServerSideApplyWarnings(ctx, node.ControlPlane, e.ns, manifests, "e2e-node")
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	for _, w := range warnings {
		if strings.Contains(w, "PodSecurity") {
			e.t.Errorf("apply: %s", w)
		}
	}
}

func (e *env) waitFor(timeout time.Duration, what string, check func(context.Context) error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("%s: not within %s: %v", what, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (e *env) pod(name string) *corev1.Pod {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := node.Client().CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitReady waits for the kubelet to report the pods Ready.
func (e *env) waitReady(timeout time.Duration, pods ...string) {
	e.t.Helper()
	for _, name := range pods {
		e.waitFor(timeout, "pod "+name+" Ready", func(ctx context.Context) error {
			p, err := node.Client().CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("phase %s, conditions %v", p.Status.Phase, p.Status.Conditions)
		})
	}
}

// waitJobComplete waits for the last render's shrink Job, which runs in a real container of
// the function image with its ServiceAccount's projected token.
func (e *env) waitJobComplete(timeout time.Duration) {
	e.t.Helper()
	e.waitFor(timeout, "shrink Job "+e.job, func(ctx context.Context) error {
		job, err := node.Client().BatchV1().Jobs(e.ns).Get(ctx, e.job, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return nil
			case batchv1.JobFailed:
				e.t.Fatalf("shrink Job %s failed: %s: %s", e.job, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("active %d, succeeded %d, failed %d", job.Status.Active, job.Status.Succeeded, job.Status.Failed)
	})
}

// client talks to the pods at their pod IPs, and follows rqlited's advertised names through
// the cluster's DNS.
func (e *env) client(pods ...string) *rqlite.Client {
	e.t.Helper()
	var urls []string
	for _, name := range pods {
		ip := e.pod(name).Status.PodIP
		if ip == "" {
			e.t.Fatalf("pod %s has no IP", name)
		}
		urls = append(urls, "http://"+ip+":4001")
	}
	return rqlite.MustNew(rqlite.Options{URLs: urls, HTTPClient: node.HTTPClient(), Timeout: 10 * time.Second})
}

// containerID is the runtime's ID of a container of a pod, as the kubelet reports it.
func (e *env) containerID(pod, container string) string {
	e.t.Helper()
	for _, s := range e.pod(pod).Status.ContainerStatuses {
		if s.Name == container {
			id, ok := strings.CutPrefix(s.ContainerID, "containerd://")
			if !ok {
				e.t.Fatalf("%s/%s: container ID %q is not containerd's", pod, container, s.ContainerID)
			}
			return id
		}
	}
	e.t.Fatalf("%s has no container %s", pod, container)
	return ""
}

// exec runs a command in a running container through containerd (ctr tasks exec), which
// starts it with the container's own process spec: its user, capabilities, seccomp profile,
// no_new_privs and root filesystem.
func (e *env) exec(pod, container string, args ...string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := fmt.Sprintf("e2e-%08x", rand.Uint32())
	out, err := node.Ctr(ctx, append([]string{"tasks", "exec", "--exec-id", id, e.containerID(pod, container)}, args...)...)
	return strings.TrimSpace(string(out)), err
}
