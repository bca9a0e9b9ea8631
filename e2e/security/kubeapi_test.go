package security

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// fakeStatefulSetAPI is a FAKE of the Kubernetes API server, the StatefulSet controller and the
// kubelet, for the one StatefulSet the shrink Job works on, in front of real rqlited processes.
// It serves the rendered StatefulSet with a mutable spec.replicas, its scale subresource and its
// pods (one per running ordinal). Lowering replicas through the scale subresource stops the
// rqlited of every ordinal at or above the new count with SIGTERM, in parallel (podManagementPolicy
// Parallel), and deletes the pod once the process has exited, as the kubelet would after preStop.
// Every request is authorized against the rendered Role first (resource, subresource, verb and
// resourceNames), so a Job that needed more than its Role grants fails here as it would in a
// cluster. Real API server behaviour (admission, conflicts, watch) is out of scope: e2e/apiserver
// covers the rendered RBAC against a real kube-apiserver.
type fakeStatefulSetAPI struct {
	t    *testing.T
	sc   *secureCluster
	sts  *appsv1.StatefulSet
	role *rbacv1.Role

	mu       sync.Mutex
	replicas int
	pods     map[int]bool // ordinals with a pod object
	requests []string     // "VERB path" of every request, in order
	denied   []string
	stopping sync.WaitGroup

	srv *httptest.Server
}

func newFakeStatefulSetAPI(t *testing.T, sc *secureCluster, sts *appsv1.StatefulSet, role *rbacv1.Role) *fakeStatefulSetAPI {
	f := &fakeStatefulSetAPI{t: t, sc: sc, sts: sts.DeepCopy(), role: role, pods: map[int]bool{}}
	f.replicas = int(*sts.Spec.Replicas)
	for i := range f.replicas {
		f.pods[i] = true
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.stopping.Wait()
	})
	return f
}

// kubeconfig writes a kubeconfig for the fake; it stands in for the service account token and CA
// the kubelet would mount into the Job's pod.
func (f *fakeStatefulSetAPI) kubeconfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: fake
contexts:
- name: fake
  context: {cluster: fake, user: shrink}
clusters:
- name: fake
  cluster: {server: %q}
users:
- name: shrink
  user: {token: shrink-job-token}
`, f.srv.URL)
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
	return p
}

func (f *fakeStatefulSetAPI) stsPath() string {
	return fmt.Sprintf("/apis/apps/v1/namespaces/%s/statefulsets/%s", f.sts.Namespace, f.sts.Name)
}

func (f *fakeStatefulSetAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer shrink-job-token" {
		f.fail(w, http.StatusUnauthorized, "no token")
		return
	}
	podsPath := fmt.Sprintf("/api/v1/namespaces/%s/pods", f.sts.Namespace)
	var group, resource, name, verb string
	switch {
	case r.URL.Path == f.stsPath() && r.Method == http.MethodGet:
		group, resource, name, verb = "apps", "statefulsets", f.sts.Name, "get"
	case r.URL.Path == f.stsPath()+"/scale" && r.Method == http.MethodGet:
		group, resource, name, verb = "apps", "statefulsets/scale", f.sts.Name, "get"
	case r.URL.Path == f.stsPath()+"/scale" && r.Method == http.MethodPatch:
		group, resource, name, verb = "apps", "statefulsets/scale", f.sts.Name, "patch"
	case r.URL.Path == podsPath && r.Method == http.MethodGet:
		group, resource, verb = "", "pods", "list"
	case r.URL.Path == fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs", f.sts.Namespace) && r.Method == http.MethodGet:
		group, resource, verb = "batch", "jobs", "list"
	default:
		f.fail(w, http.StatusNotFound, "the fake API serves no "+r.Method+" "+r.URL.Path)
		return
	}
	if !allowed(f.role, group, resource, name, verb) {
		f.mu.Lock()
		f.denied = append(f.denied, fmt.Sprintf("%s %s/%s %q", verb, group, resource, name))
		f.mu.Unlock()
		f.fail(w, http.StatusForbidden, fmt.Sprintf("%s %s %q is not granted by Role %s", verb, resource, name, f.role.Name))
		return
	}
	switch {
	case resource == "statefulsets":
		f.mu.Lock()
		sts := f.sts.DeepCopy()
		sts.Spec.Replicas = ptr(int32(f.replicas))
		f.mu.Unlock()
		writeJSON(w, sts)
	case resource == "statefulsets/scale" && verb == "get":
		f.mu.Lock()
		n := f.replicas
		f.mu.Unlock()
		writeJSON(w, &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: int32(n)}})
	case resource == "statefulsets/scale":
		if ct := r.Header.Get("Content-Type"); ct != "application/merge-patch+json" {
			f.fail(w, http.StatusUnsupportedMediaType, "content type "+ct)
			return
		}
		var patch struct {
			Spec struct {
				Replicas *int `json:"replicas"`
			} `json:"spec"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &patch); err != nil || patch.Spec.Replicas == nil {
			f.fail(w, http.StatusBadRequest, "bad patch "+string(b))
			return
		}
		f.scale(*patch.Spec.Replicas)
		writeJSON(w, &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: int32(*patch.Spec.Replicas)}})
	case resource == "jobs":
		// No other shrink Job exists: this run is the newest change.
		writeJSON(w, &batchv1.JobList{})
	case resource == "pods":
		want := labels.SelectorFromSet(f.sts.Spec.Selector.MatchLabels).String()
		if got := r.URL.Query().Get("labelSelector"); got != want {
			f.fail(w, http.StatusBadRequest, fmt.Sprintf("label selector %q, want the StatefulSet's %q", got, want))
			return
		}
		writeJSON(w, f.podList())
	}
}

func (f *fakeStatefulSetAPI) fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "code": code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// scale plays the StatefulSet controller and the kubelet for a scale-down.
func (f *fakeStatefulSetAPI) scale(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.replicas {
		f.t.Errorf("fake StatefulSet: the shrink Job scaled up from %d to %d", f.replicas, n)
	}
	f.replicas = n
	for ord := range f.pods {
		if ord < n {
			continue
		}
		idx := f.sc.NodeByID(fmt.Sprintf("%s-%d", f.sts.Name, ord)).Index
		f.stopping.Add(1)
		go func() {
			defer f.stopping.Done()
			_ = f.sc.Stop(idx)
			f.mu.Lock()
			delete(f.pods, ord)
			f.mu.Unlock()
		}()
	}
}

func (f *fakeStatefulSetAPI) podList() *corev1.PodList {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	var ords []int
	for o := range f.pods {
		ords = append(ords, o)
	}
	slices.Sort(ords)
	for _, o := range ords {
		l.Items = append(l.Items, corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", f.sts.Name, o), Namespace: f.sts.Namespace, Labels: f.sts.Spec.Template.Labels},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}
	return l
}

func (f *fakeStatefulSetAPI) state() (replicas int, pods []int, requests, denied []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for o := range f.pods {
		pods = append(pods, o)
	}
	slices.Sort(pods)
	return f.replicas, pods, slices.Clone(f.requests), slices.Clone(f.denied)
}

// allowed evaluates a namespaced RBAC Role the way the API server's authorizer does for these
// requests: a rule grants when group, resource (with subresource), verb and, if the rule names
// resources, the object's name all match. A list is never granted by a rule with resourceNames.
func allowed(role *rbacv1.Role, group, resource, name, verb string) bool {
	for _, r := range role.Rules {
		if !slices.Contains(r.APIGroups, group) && !slices.Contains(r.APIGroups, "*") {
			continue
		}
		if !slices.Contains(r.Resources, resource) && !slices.Contains(r.Resources, "*") {
			continue
		}
		if !slices.Contains(r.Verbs, verb) && !slices.Contains(r.Verbs, "*") {
			continue
		}
		if len(r.ResourceNames) > 0 && (name == "" || !slices.Contains(r.ResourceNames, name)) {
			continue
		}
		return true
	}
	return false
}

func ptr[T any](v T) *T { return &v }
