package apiserver

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

const (
	labelComponent = "app.kubernetes.io/component"
	saTokenPath    = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// renderFiles are every committed render: the function's golden files, the kustomize overlays'
// output and the kpt example. The kpt example comes first so that it, the one meant to be
// applied as it is, gets its own namespace name ("rqlite").
func renderFiles(t *testing.T) []string {
	t.Helper()
	root := testenv.RepoRoot(t)
	var files []string
	for _, pattern := range []string{"testdata/golden/*.yaml", "testdata/overlays/*.yaml"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		require.NotEmpty(t, matches, "no renders match %s", pattern)
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			require.NoError(t, err)
			files = append(files, rel)
		}
	}
	return append([]string{"examples/kpt/rqlite.generated.yaml"}, files...)
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// renderJob is a committed render and the namespace it is applied into.
type renderJob struct{ file, ns string }

// renderJobs gives every committed render a namespace of its own: the one it names, or one
// derived from its file name when it names none or another render claimed it first.
func renderJobs(t *testing.T) []renderJob {
	t.Helper()
	claimed := map[string]bool{}
	var jobs []renderJob
	for _, f := range renderFiles(t) {
		m := parseManifest(t, repoFile(t, f))
		ns := m.namespace(t)
		if ns == "" || claimed[ns] {
			base := strings.TrimSuffix(filepath.Base(f), ".yaml")
			ns = notDNS.ReplaceAllString(filepath.Base(filepath.Dir(f))+"-"+base, "-")
		}
		require.False(t, claimed[ns], "namespace %s claimed twice", ns)
		claimed[ns] = true
		jobs = append(jobs, renderJob{f, ns})
	}
	return jobs
}

// manifest reads the render, moved into the job's namespace.
func (j renderJob) manifest(t *testing.T) manifest {
	t.Helper()
	m := parseManifest(t, repoFile(t, j.file))
	if m.namespace(t) != j.ns {
		m = m.inNamespace(t, j.ns)
	}
	return m
}

// TestEveryRenderIsAdmitted applies each committed render into a restricted namespace of its
// own and follows it through the controllers: every object is accepted without a warning, the
// StatefulSet, Job and HPA controllers create the Pods the render implies, Pod Security admits
// every one of them, and what the Pods carry (names, args, env from the ConfigMap, claims,
// service-account tokens, RBAC) is what the cluster needs to work.
func TestEveryRenderIsAdmitted(t *testing.T) {
	for _, j := range renderJobs(t) {
		t.Run(j.file, func(t *testing.T) {
			t.Parallel()
			m := j.manifest(t)
			e := newEnv(t, j.ns)
			ensurePriorityClasses(e, m)
			ensureCRDs(e, m)
			e.apply(m)
			checkCluster(e, m)
			// An API server drops a field whose feature is off instead of refusing it.
			for _, o := range m {
				var dropped []string
				droppedPaths("", o.Object, e.live(o).Object, &dropped)
				assert.Empty(t, dropped, "the server dropped fields of %s %s", o.GetKind(), o.GetName())
			}
		})
	}
}

// ensurePriorityClasses creates the PriorityClasses the pod templates name: a cluster-level
// prerequisite the spec refers to (spec.*.scheduling.priorityClassName) and the render does not
// create. Without it the Priority admission plugin refuses the Pods.
func ensurePriorityClasses(e *env, m manifest) {
	e.t.Helper()
	for _, o := range m.ofKind("StatefulSet") {
		name := typed[appsv1.StatefulSet](e.t, o).Spec.Template.Spec.PriorityClassName
		if name == "" {
			continue
		}
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: 1000}
		_, err := e.client.SchedulingV1().PriorityClasses().Create(e.ctx, pc, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(e.t, err)
		}
	}
}

// checkCluster follows an applied render through the controllers.
func checkCluster(e *env, m manifest) {
	t := e.t
	t.Helper()
	for _, o := range m {
		require.NotNil(t, e.live(o), "%s %s was applied but is not on the server", o.GetKind(), o.GetName())
	}

	hpaFor := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
	for _, o := range m.ofKind("HorizontalPodAutoscaler") {
		hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, o)
		ref := hpa.Spec.ScaleTargetRef
		require.Equal(t, "StatefulSet", ref.Kind, "HPA %s", hpa.Name)
		require.NotNil(t, m.find("StatefulSet", ref.Name), "HPA %s scales StatefulSet %s, which the render does not have", hpa.Name, ref.Name)
		hpaFor[ref.Name] = hpa
	}

	var voters *appsv1.StatefulSet
	for _, o := range m.ofKind("StatefulSet") {
		rendered := typed[appsv1.StatefulSet](t, o)
		if rendered.Labels[labelComponent] == "voter" {
			voters = rendered
		}
		want := 0
		switch {
		case rendered.Spec.Replicas != nil:
			want = int(*rendered.Spec.Replicas)
		case hpaFor[rendered.Name] != nil:
			// No replicas in the render: the server defaults to 1 and the HPA controller raises
			// that to minReplicas without needing any metrics, which also proves that its
			// scaleTargetRef resolves.
			want = 1
			if mr := hpaFor[rendered.Name].Spec.MinReplicas; mr != nil {
				want = int(*mr)
			}
		default:
			t.Fatalf("StatefulSet %s has no replicas and no HPA scales it", rendered.Name)
		}
		pods := e.waitPods(rendered.Spec.Selector.MatchLabels, ordinalNames(rendered.Name, want))
		live := e.statefulSet(rendered.Name)
		for _, name := range ordinalNames(rendered.Name, want) {
			checkPod(e, m, rendered, live, pods[name])
		}
		checkClaims(e, rendered, want)
	}
	require.NotNil(t, voters, "the render has no voter StatefulSet")

	// bootstrap-expect reaches the voters through the ConfigMap; it must be the voter count, one
	// more while recovering (no bootstrap of a new cluster then).
	cmName := voters.Name + "-config"
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, cmName, metav1.GetOptions{})
	require.NoError(t, err)
	expect := *voters.Spec.Replicas
	if cm.Data["static-peers"] == "true" {
		expect++
	}
	assert.Equal(t, fmt.Sprint(expect), cm.Data["bootstrap-expect"], "ConfigMap %s bootstrap-expect", cmName)

	for _, o := range m.ofKind("Job") {
		checkJob(e, m, typed[batchv1.Job](t, o))
	}
	if dep := voters.Annotations[kptDependsOn]; dep != "" {
		// kpt waits for the object named here before it applies the StatefulSet; naming a
		// Job that the render does not contain would make kpt wait forever.
		parts := strings.Split(dep, "/")
		require.Len(t, parts, 5, "depends-on %q", dep)
		assert.Equal(t, []string{"batch", "namespaces", e.ns, "Job"}, parts[:4], "depends-on %q", dep)
		_, err := e.client.BatchV1().Jobs(e.ns).Get(e.ctx, parts[4], metav1.GetOptions{})
		assert.NoError(t, err, "depends-on %q names a Job that is not on the server", dep)
	}
	checkServiceAccounts(e, m, voters)
	checkSelectors(e, m)
	assert.Empty(t, e.failedCreates(), "controllers failed to create Pods")
}

// checkSelectors checks every selector of the render against the Pods the controllers actually
// created: each Service, PodDisruptionBudget, NetworkPolicy and PodMonitor selects some of them,
// and every named port they target is a container port of each Pod selected.
func checkSelectors(e *env, m manifest) {
	t := e.t
	t.Helper()
	pods := e.pods(nil)
	selected := func(what string, sel *metav1.LabelSelector) []corev1.Pod {
		s, err := metav1.LabelSelectorAsSelector(sel)
		require.NoError(t, err, what)
		var out []corev1.Pod
		for _, p := range pods {
			if s.Matches(labels.Set(p.Labels)) {
				out = append(out, p)
			}
		}
		assert.NotEmpty(t, out, "%s selects no Pod", what)
		return out
	}
	namedPort := func(what, port string, ps []corev1.Pod) {
		for _, p := range ps {
			found := false
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == port
				}
			}
			assert.True(t, found, "%s targets port %q, which Pod %s does not have", what, port, p.Name)
		}
	}
	for _, o := range m.ofKind("Service") {
		svc := typed[corev1.Service](t, o)
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		what := "Service " + svc.Name
		ps := selected(what, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		for _, p := range ps {
			if c := svc.Labels[labelComponent]; c != "" {
				assert.Equal(t, c, p.Labels[labelComponent], "%s selects Pod %s of another component", what, p.Name)
			}
		}
		for _, port := range svc.Spec.Ports {
			if port.TargetPort.StrVal != "" {
				namedPort(what, port.TargetPort.StrVal, ps)
			}
		}
	}
	for _, o := range m.ofKind("PodDisruptionBudget") {
		pdb := typed[policyv1.PodDisruptionBudget](t, o)
		owners := map[types.UID]bool{}
		for _, p := range selected("PodDisruptionBudget "+pdb.Name, pdb.Spec.Selector) {
			if c := metav1.GetControllerOf(&p); c != nil {
				owners[c.UID] = true
			}
		}
		assert.Len(t, owners, 1, "PodDisruptionBudget %s spans Pods of several controllers", pdb.Name)
	}
	for _, o := range m.ofKind("NetworkPolicy") {
		np := typed[networkingv1.NetworkPolicy](t, o)
		selected("NetworkPolicy "+np.Name, &np.Spec.PodSelector)
	}
	for _, o := range m.ofKind("PodMonitor") {
		checkPodMonitor(e, e.live(o), pods)
	}
}

// checkPod checks one admitted Pod of a StatefulSet.
func checkPod(e *env, m manifest, rendered *appsv1.StatefulSet, live *appsv1.StatefulSet, pod corev1.Pod) {
	t := e.t
	t.Helper()
	owner := metav1.GetControllerOf(&pod)
	require.NotNil(t, owner, "Pod %s has no controller", pod.Name)
	assert.Equal(t, live.UID, owner.UID, "Pod %s is not owned by StatefulSet %s", pod.Name, live.Name)
	assert.Equal(t, rendered.Spec.Template.Spec.ServiceAccountName, pod.Spec.ServiceAccountName, "Pod %s", pod.Name)
	assert.False(t, hasToken(pod), "Pod %s got a service-account token; rqlited needs no API access", pod.Name)

	require.Len(t, pod.Spec.Containers, len(rendered.Spec.Template.Spec.Containers), "Pod %s containers", pod.Name)
	for i, c := range pod.Spec.Containers {
		want := rendered.Spec.Template.Spec.Containers[i]
		assert.Equal(t, want.Command, c.Command, "Pod %s container %s command", pod.Name, c.Name)
		assert.Equal(t, want.Args, c.Args, "Pod %s container %s args", pod.Name, c.Name)
		checkEnvRefs(e, m, pod.Name, c)
	}
	for _, c := range pod.Spec.InitContainers {
		checkEnvRefs(e, m, pod.Name, c)
	}

	main := pod.Spec.Containers[0]
	if rendered.Labels[labelComponent] == "voter" {
		ref := envFrom(main, "RQLITE_BOOTSTRAP_EXPECT")
		require.NotNil(t, ref, "voter Pod %s has no RQLITE_BOOTSTRAP_EXPECT from a ConfigMap", pod.Name)
		assert.Equal(t, rendered.Name+"-config", ref.Name, "Pod %s RQLITE_BOOTSTRAP_EXPECT ConfigMap", pod.Name)
		assert.Equal(t, "bootstrap-expect", ref.Key, "Pod %s RQLITE_BOOTSTRAP_EXPECT key", pod.Name)
		assert.Contains(t, main.Args, "-bootstrap-expect=$(RQLITE_BOOTSTRAP_EXPECT)", "Pod %s", pod.Name)
		assert.NotContains(t, main.Args, "-raft-non-voter=true", "voter Pod %s", pod.Name)
	} else {
		assert.Contains(t, main.Args, "-raft-non-voter=true", "read-only Pod %s", pod.Name)
		assert.Nil(t, envFrom(main, "RQLITE_BOOTSTRAP_EXPECT"), "read-only Pod %s", pod.Name)
	}
	assert.Contains(t, main.Args, "-node-id=$(POD_NAME)", "Pod %s", pod.Name)
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkEnvRefs checks what the kubelet will resolve when it starts the container: a $(VAR) in
// command or args that names no env var stays literally in the argument, and a configMapKeyRef to
// a missing key keeps the container from starting at all.
func checkEnvRefs(e *env, m manifest, pod string, c corev1.Container) {
	t := e.t
	t.Helper()
	defined := map[string]bool{}
	for _, ev := range c.Env {
		defined[ev.Name] = true
	}
	for _, arg := range slices.Concat(c.Command, c.Args) {
		for _, match := range varRef.FindAllStringSubmatch(arg, -1) {
			assert.True(t, defined[match[1]], "Pod %s container %s: %q refers to $(%s), which is not in its env", pod, c.Name, arg, match[1])
		}
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil || ev.ValueFrom.ConfigMapKeyRef == nil {
			continue
		}
		ref := ev.ValueFrom.ConfigMapKeyRef
		if ref.Optional != nil && *ref.Optional {
			continue
		}
		require.NotNil(t, m.find("ConfigMap", ref.Name), "Pod %s env %s: ConfigMap %s is not in the render", pod, ev.Name, ref.Name)
		cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, ref.Name, metav1.GetOptions{})
		require.NoError(t, err)
		_, ok := cm.Data[ref.Key]
		assert.True(t, ok, "Pod %s env %s: ConfigMap %s has no key %q", pod, ev.Name, ref.Name, ref.Key)
	}
}

func envFrom(c corev1.Container, name string) *corev1.ConfigMapKeySelector {
	for _, ev := range c.Env {
		if ev.Name == name && ev.ValueFrom != nil {
			return ev.ValueFrom.ConfigMapKeyRef
		}
	}
	return nil
}

// hasToken reports whether admission gave the Pod a service-account token.
func hasToken(pod corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return true
			}
		}
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == saTokenPath {
				return true
			}
		}
	}
	return false
}

// checkClaims checks the PersistentVolumeClaims the StatefulSet controller made from the
// volumeClaimTemplates.
func checkClaims(e *env, sts *appsv1.StatefulSet, n int) {
	t := e.t
	t.Helper()
	for _, vct := range sts.Spec.VolumeClaimTemplates {
		for i := range n {
			name := fmt.Sprintf("%s-%s-%d", vct.Name, sts.Name, i)
			var pvc *corev1.PersistentVolumeClaim
			e.eventually("PVC "+name, func() (bool, string) {
				var err error
				pvc, err = e.client.CoreV1().PersistentVolumeClaims(e.ns).Get(e.ctx, name, metav1.GetOptions{})
				return err == nil, fmt.Sprint(err)
			})
			assert.Equal(t, vct.Spec.Resources.Requests.Storage().String(), pvc.Spec.Resources.Requests.Storage().String(), "PVC %s size", name)
			assert.Equal(t, vct.Spec.StorageClassName, pvc.Spec.StorageClassName, "PVC %s class", name)
			for k, v := range sts.Spec.Selector.MatchLabels {
				assert.Equal(t, v, pvc.Labels[k], "PVC %s label %s", name, k)
			}
		}
	}
}

// checkJob checks that the Job controller creates the shrink Job's Pod, that it is admitted, runs
// as the shrink ServiceAccount with a token (the ServiceAccount itself turns automount off, the
// Pod turns it back on), and that the Role the render binds grants that identity what it lists.
func checkJob(e *env, m manifest, rendered *batchv1.Job) {
	t := e.t
	t.Helper()
	var pod corev1.Pod
	e.eventually("a Pod of Job "+rendered.Name, func() (bool, string) {
		pods := e.pods(map[string]string{"batch.kubernetes.io/job-name": rendered.Name})
		if len(pods) == 0 {
			return false, fmt.Sprint(e.failedCreates())
		}
		pod = pods[0]
		return true, ""
	})
	sa := rendered.Spec.Template.Spec.ServiceAccountName
	require.NotEmpty(t, sa, "Job %s runs as the namespace's default ServiceAccount", rendered.Name)
	assert.Equal(t, sa, pod.Spec.ServiceAccountName, "Job Pod %s", pod.Name)
	require.NotNil(t, m.find("ServiceAccount", sa), "Job %s runs as ServiceAccount %s, which the render does not have", rendered.Name, sa)
	assert.True(t, hasToken(pod), "Job Pod %s has no service-account token; the shrink Job talks to the API server", pod.Name)

	liveSA, err := e.client.CoreV1().ServiceAccounts(e.ns).Get(e.ctx, sa, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, liveSA.AutomountServiceAccountToken)
	assert.False(t, *liveSA.AutomountServiceAccountToken, "ServiceAccount %s should not mount tokens by default", sa)

	var bound bool
	for _, o := range m.ofKind("RoleBinding") {
		rb := typed[rbacv1.RoleBinding](t, o)
		for _, s := range rb.Subjects {
			if s.Kind != "ServiceAccount" || s.Name != sa {
				continue
			}
			bound = true
			assert.Equal(t, e.ns, s.Namespace, "RoleBinding %s binds ServiceAccount %s of another namespace", rb.Name, sa)
			role := m.find("Role", rb.RoleRef.Name)
			require.NotNil(t, role, "RoleBinding %s refers to Role %s, which the render does not have", rb.Name, rb.RoleRef.Name)
			for _, rule := range typed[rbacv1.Role](t, role).Rules {
				for _, attr := range ruleAttributes(rule) {
					attr.Namespace = e.ns
					assert.True(t, e.can(sa, attr), "ServiceAccount %s may not %s %s/%s %q", sa, attr.Verb, attr.Resource, attr.Subresource, attr.Name)
				}
			}
		}
	}
	assert.True(t, bound, "no RoleBinding binds ServiceAccount %s", sa)
	for _, attr := range []authorizationv1.ResourceAttributes{
		{Verb: "delete", Resource: "pods"},
		{Verb: "get", Resource: "secrets"},
		{Verb: "update", Group: "apps", Resource: "statefulsets"},
	} {
		attr.Namespace = e.ns
		assert.False(t, e.can(sa, attr), "ServiceAccount %s may %s %s: more than the shrink Job needs", sa, attr.Verb, attr.Resource)
	}
}

// checkServiceAccounts checks that the rqlite Pods' identity has no API access at all.
func checkServiceAccounts(e *env, m manifest, voters *appsv1.StatefulSet) {
	sa := voters.Spec.Template.Spec.ServiceAccountName
	require.NotNil(e.t, m.find("ServiceAccount", sa), "voters run as ServiceAccount %s, which the render does not have", sa)
	for _, attr := range []authorizationv1.ResourceAttributes{
		{Verb: "get", Resource: "pods"},
		{Verb: "get", Resource: "configmaps"},
		{Verb: "get", Group: "apps", Resource: "statefulsets"},
	} {
		attr.Namespace = e.ns
		assert.False(e.t, e.can(sa, attr), "ServiceAccount %s may %s %s", sa, attr.Verb, attr.Resource)
	}
}

func ruleAttributes(rule rbacv1.PolicyRule) []authorizationv1.ResourceAttributes {
	var out []authorizationv1.ResourceAttributes
	names := rule.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, g := range rule.APIGroups {
		for _, res := range rule.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, v := range rule.Verbs {
				for _, n := range names {
					out = append(out, authorizationv1.ResourceAttributes{Group: g, Resource: resource, Subresource: sub, Verb: v, Name: n})
				}
			}
		}
	}
	return out
}

// can asks the authorizer whether a ServiceAccount of the env's namespace may do something.
func (e *env) can(sa string, attr authorizationv1.ResourceAttributes) bool {
	e.t.Helper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               fmt.Sprintf("system:serviceaccount:%s:%s", e.ns, sa),
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + e.ns, "system:authenticated"},
		ResourceAttributes: &attr,
	}}
	got, err := e.client.AuthorizationV1().SubjectAccessReviews().Create(e.ctx, review, metav1.CreateOptions{})
	require.NoError(e.t, err)
	return got.Status.Allowed
}

// TestUserContainersMeetRestricted covers the containers a spec adds to the pods
// (spec.*.extraContainers, extraInitContainers) written the way a user writes them, without a
// securityContext. The README promises pods that satisfy the "restricted" Pod Security standard,
// so the function must either make such a container compliant or refuse the spec with an error on
// the container; passing it through yields a render that applies cleanly (a warning aside) and
// Pods that admission then refuses, i.e. a cluster that never starts.
func TestUserContainersMeetRestricted(t *testing.T) {
	const ns = "user-containers"
	spec := `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: user-containers
spec:
  voters:
    replicas: 3
    extraContainers:
    - name: log-shipper
      image: docker.io/fluent/fluent-bit:3.2.0
  readOnly:
    replicas: 1
    extraInitContainers:
    - name: warm-up
      image: docker.io/library/busybox:1.37
      command: ["true"]
`
	res := generate.FromYAML([]byte(spec))
	if res.Problems.HasErrors() {
		// Refusing the spec is a valid answer, provided it names the containers.
		msg := res.Problems.Error()
		assert.Contains(t, msg, "extraContainers[0]")
		assert.Contains(t, msg, "extraInitContainers[0]")
		return
	}
	m := renderSpec(t, spec)
	e := newEnv(t, ns)
	warnings, err := e.applyWarnings(m)
	require.NoError(t, err)
	assert.Empty(t, warnings, "rendered without an error, but Pod Security would refuse the Pods")
	checkCluster(e, m)
}
