package shrink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rqlite/rqlite-krm/fn/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeWorkload is Workload over the Kubernetes API, with the narrow
// permissions the rendered Role grants: get the StatefulSet, patch its scale
// subresource, list pods.
type KubeWorkload struct {
	Client       *kube.Client
	Namespace    string
	StatefulSet  string
	PollInterval time.Duration // default 2 s
	// Job is the name of the Job this process runs in, if any: a newer shrink Job of the same
	// cluster supersedes it (see Superseded).
	Job string

	mu       sync.Mutex
	selector string // the StatefulSet's own pod selector, read with the replicas
}

var _ Workload = (*KubeWorkload)(nil)

// Replicas reads spec.replicas and remembers the StatefulSet's pod selector:
// it selects exactly this StatefulSet's pods whatever labels the user added.
func (w *KubeWorkload) Replicas(ctx context.Context) (int, bool, error) {
	s, err := w.Client.GetStatefulSet(ctx, w.Namespace, w.StatefulSet)
	if kube.IsNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if s.Spec.Selector == nil {
		return 0, true, fmt.Errorf("StatefulSet %s/%s has no selector", w.Namespace, w.StatefulSet)
	}
	sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
	if err != nil {
		return 0, true, fmt.Errorf("StatefulSet %s/%s: selector: %w", w.Namespace, w.StatefulSet, err)
	}
	w.mu.Lock()
	w.selector = sel.String()
	w.mu.Unlock()
	replicas := 1 // the API default when spec.replicas is unset
	if s.Spec.Replicas != nil {
		replicas = int(*s.Spec.Replicas)
	}
	return replicas, true, nil
}

// Superseded names a shrink Job of the same cluster created after this one, if any. Renders are
// applied in order, so the newest Job carries the newest target: an older one still running
// (waiting for a leader, or retried by the Job controller after a failure) must not act on a
// StatefulSet a later change has scaled.
func (w *KubeWorkload) Superseded(ctx context.Context) (string, error) {
	if w.Job == "" {
		return "", nil
	}
	jobs, err := w.Client.ListJobs(ctx, w.Namespace, "app.kubernetes.io/component=shrink")
	if err != nil {
		return "", err
	}
	var own *time.Time
	instance := ""
	for _, j := range jobs {
		if j.Name == w.Job {
			t := j.CreationTimestamp.Time
			own, instance = &t, j.Labels["app.kubernetes.io/instance"]
		}
	}
	if own == nil {
		return "", nil // cannot tell: act as told
	}
	for _, j := range jobs {
		if j.Name != w.Job && j.Labels["app.kubernetes.io/instance"] == instance && j.CreationTimestamp.After(*own) {
			return j.Name, nil
		}
	}
	return "", nil
}

// SetReplicas patches the scale subresource.
func (w *KubeWorkload) SetReplicas(ctx context.Context, replicas int) error {
	return w.Client.SetReplicas(ctx, w.Namespace, w.StatefulSet, int32(replicas))
}

// WaitPodsGone polls the StatefulSet's pods until none of the ordinals has a
// pod object left. A terminating pod still counts: its object is deleted only
// after the kubelet has seen its containers stop, and until then rqlited may
// still be running.
func (w *KubeWorkload) WaitPodsGone(ctx context.Context, ordinals []int) error {
	w.mu.Lock()
	sel := w.selector
	w.mu.Unlock()
	if sel == "" {
		if _, exists, err := w.Replicas(ctx); err != nil {
			return err
		} else if !exists {
			return fmt.Errorf("StatefulSet %s/%s not found", w.Namespace, w.StatefulSet)
		}
		w.mu.Lock()
		sel = w.selector
		w.mu.Unlock()
	}
	want := map[string]bool{}
	for _, o := range ordinals {
		want[fmt.Sprintf("%s-%d", w.StatefulSet, o)] = true
	}
	poll := w.PollInterval
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var last string
	for {
		pods, err := w.Client.ListPods(ctx, w.Namespace, sel)
		if err != nil {
			if isFatalKube(err) {
				return err
			}
			// A list cut short by the deadline says less than the last
			// answer did.
			if ctx.Err() == nil || last == "" {
				last = "listing pods: " + err.Error()
			}
		} else {
			var left []string
			for _, p := range pods {
				if want[p.Name] {
					d := p.Name + " (" + string(p.Status.Phase)
					if p.DeletionTimestamp != nil {
						d += ", terminating"
					}
					left = append(left, d+")")
				}
			}
			if len(left) == 0 {
				return nil
			}
			slices.Sort(left)
			last = "still there: " + strings.Join(left, ", ")
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w; %s", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// isFatalKube is true for answers that waiting cannot change: missing RBAC,
// bad credentials, a StatefulSet that is gone.
func isFatalKube(err error) bool {
	var e *kube.APIError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}
