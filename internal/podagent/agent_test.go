package podagent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/podagent"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var cp *testenv.ControlPlane

func TestMain(m *testing.M) {
	var stop func()
	var err error
	cp, stop, err = testenv.StartControlPlaneMain(testenv.ControlPlaneOptions{ControllerManager: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "podagent: %v\n(run `make tools` if a tool is missing)\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		cp.WriteLogTails(os.Stderr, 30)
	}
	stop()
	os.Exit(code)
}

func setup(t *testing.T, prefix string) (string, *podagent.Agent) {
	t.Helper()
	ns := fmt.Sprintf("%s-%04x", prefix, rand.IntN(1<<16))
	testenv.CreateRestrictedNamespace(t, cp, ns)
	return ns, podagent.Start(t, cp, podagent.Options{Namespaces: []string{ns}})
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// restricted is what Pod Security "restricted" demands of every container.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func podSecurity(uid int64, fsGroup *int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot: ptr(true), RunAsUser: &uid, RunAsGroup: &uid, FSGroup: fsGroup,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func waitFor(t *testing.T, d time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	ctx := ctxT(t, d)
	var last error
	for {
		if last = check(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, d, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitLog(t *testing.T, a *podagent.Agent, pod, container, want string) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%s/%s logs %q", pod, container, want), func(context.Context) error {
		if strings.Contains(a.Logs(pod, container), want) {
			return nil
		}
		return fmt.Errorf("log so far:\n%s", a.Logs(pod, container))
	})
}

// The script's $(...) are not Kubernetes references (their names are not variables), so the
// kubelet's expansion leaves them to the shell; $(POD_NAME) in the init container is one.
const mainScript = `
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "hostname=$(hostname)"
echo "init=$(cat /data/init.txt)"
echo "secret=$(cat /secret/password)"
echo "env ip=$POD_IP node=$NODE esc=$ESC addr=$ADDR"
echo "resolv: $(grep search /etc/resolv.conf)"
echo "data group=$(stat -c %g /data)"
for i in $(seq 100); do
  a=$(getent hosts h) && break
  sleep 0.1
done
echo "dns=$a"
touch /tmp/ready
trap 'echo got TERM; exit 0' TERM
last=
while :; do
  g=$(cat /config/greeting)
  [ "$g" != "$last" ] && echo "greeting now $g"
  last=$g
  sleep 0.1
done
`

// TestPodLikeKubelet runs one pod through the kubelet's whole life with a shell as its program.
// DNS: the pod resolves its headless Service's short name through the agent's server with
// glibc's resolver and the search path.
func TestPodLikeKubelet(t *testing.T) {
	ns, a := setup(t, "pod")
	cl := cp.Client()
	ctx := ctxT(t, 2*time.Minute)
	_, err := cl.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello", "other": "x"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sec"}, StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "h"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true,
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "x", Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	vm := func(name, path string) corev1.VolumeMount { return corev1.VolumeMount{Name: name, MountPath: path} }
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Hostname: "web-0", Subdomain: "h",
			SecurityContext:               podSecurity(1234, ptr(int64(2000))),
			TerminationGracePeriodSeconds: ptr(int64(10)),
			InitContainers: []corev1.Container{{
				Name: "init", Image: "busybox:1", Command: []string{"/bin/sh", "-c", "echo init-$(POD_NAME) > /data/init.txt"},
				Env: []corev1.EnvVar{field("POD_NAME", "metadata.name")}, SecurityContext: restricted(),
				VolumeMounts: []corev1.VolumeMount{vm("data", "/data")},
			}},
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1", Command: []string{"/bin/sh", "-c", mainScript},
				Env: []corev1.EnvVar{
					field("POD_IP", "status.podIP"), field("NODE", "spec.nodeName"), field("NS", "metadata.namespace"),
					{Name: "ESC", Value: "$$(NS)"},
					{Name: "ADDR", Value: "$(NODE)/$(NS)"},
				},
				SecurityContext: restricted(),
				VolumeMounts:    []corev1.VolumeMount{vm("data", "/data"), vm("config", "/config"), vm("secret", "/secret"), vm("tmp", "/tmp")},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "test -f /tmp/ready"}}},
					PeriodSeconds: 1,
				},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
					Items:                []corev1.KeyToPath{{Key: "greeting", Path: "greeting"}}, DefaultMode: ptr(int32(0o444)),
				}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	if _, err := cl.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitReady(ctxT(t, 30*time.Second), "web-0"); err != nil {
		t.Fatal(err)
	}
	ip := a.PodIP("web-0")
	for _, want := range []string{
		"uid=1234 gid=1234 groups=1234 2000", "hostname=web-0", "init=init-web-0", "secret=s3cret",
		fmt.Sprintf("env ip=%s node=%s esc=$(NS) addr=%s/%s", ip, a.NodeName(), a.NodeName(), ns),
		fmt.Sprintf("resolv: search %s.svc.cluster.local svc.cluster.local cluster.local", ns),
		"data group=2000",
		"greeting now hello",
	} {
		waitLog(t, a, "web-0", "main", want)
	}
	// Not in the pod's hosts file: glibc asks the agent's DNS, through the search path.
	dns := regexp.MustCompile(`dns=` + regexp.QuoteMeta(ip) + `\s+h\.` + regexp.QuoteMeta(ns) + `\.svc\.cluster\.local\n`)
	if logs := a.Logs("web-0", "main"); !dns.MatchString(logs) {
		t.Errorf("no line matching %s in\n%s", dns, logs)
	}
	got, err := cl.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodRunning || got.Status.PodIP != a.PublishedIP("web-0") || got.Spec.NodeName != a.NodeName() {
		t.Errorf("status: phase %s, podIP %s (want %s), node %s", got.Status.Phase, got.Status.PodIP, a.PublishedIP("web-0"), got.Spec.NodeName)
	}
	if ics := got.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil || ics[0].State.Terminated.ExitCode != 0 {
		t.Errorf("init container status: %+v", ics)
	}

	// A changed ConfigMap reaches the running container.
	cm, err := cl.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting"] = "bye"
	if _, err := cl.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, a, "web-0", "main", "greeting now bye")

	// A crash: the container restarts in the same sandbox (same IP, same emptyDir).
	pid := a.ProcessPID("web-0", "main")
	a.Kill("web-0")
	waitFor(t, 20*time.Second, "restart after Kill", func(ctx context.Context) error {
		p, err := cl.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || !cs.Ready {
			return fmt.Errorf("container status %+v", cs)
		}
		if code := cs.LastTerminationState.Terminated.ExitCode; code != 137 {
			return fmt.Errorf("last exit code %d, want 137", code)
		}
		return nil
	})
	if newPID := a.ProcessPID("web-0", "main"); newPID == pid || newPID == 0 || a.PodIP("web-0") != ip {
		t.Errorf("after Kill: pid %d (was %d), IP %s (was %s)", newPID, pid, a.PodIP("web-0"), ip)
	}

	// Graceful deletion: preStop, SIGTERM (the script traps it), then the object goes away.
	dir := a.PVCDir("data")
	start := time.Now()
	if err := cl.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pod deleted", func(ctx context.Context) error {
		_, err := cl.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	if took := time.Since(start); took < time.Second || took > 8*time.Second {
		t.Errorf("deletion took %s: want the 1 s preStop sleep, then a prompt exit on SIGTERM", took)
	}
	waitLog(t, a, "web-0", "main", "got TERM")

	// The claim's data outlives the pod and goes with the claim.
	if b, err := os.ReadFile(filepath.Join(dir, "init.txt")); err != nil || string(b) != "init-web-0\n" {
		t.Errorf("PVC data after pod deletion: %q, %v", b, err)
	}
	if err := cl.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "PVC data removed", func(context.Context) error {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("%s still exists", dir)
	})
}

const tokenScript = `
SA=/var/run/secrets/kubernetes.io/serviceaccount
TOKEN=$(cat $SA/token)
NS=$(cat $SA/namespace)
code() {
  curl -s -o /dev/null -w '%{http_code}' --cacert $SA/ca.crt -H "Authorization: Bearer $TOKEN" \
    "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$NS/$1"
}
p=$(code pods)
s=$(code secrets)
echo "pods=$p secrets=$s"
[ "$p" = 200 ] && [ "$s" = 403 ]
`

// TestJobWithServiceAccountToken: a Job pod gets a real bound token, the control plane's CA
// and its namespace at the standard path, and the API server applies RBAC to it: the Role
// allows pods, nothing allows secrets. A Job whose pod fails turns Failed.
func TestJobWithServiceAccountToken(t *testing.T) {
	ns, a := setup(t, "job")
	cl := cp.Client()
	ctx := ctxT(t, 2*time.Minute)
	if _, err := cl.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := func(name, script string) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{
				BackoffLimit: ptr(int32(0)),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: "reader",
					AutomountServiceAccountToken: ptr(true),
					SecurityContext:              podSecurity(65532, nil),
					Containers: []corev1.Container{{
						Name: "c", Image: "busybox:1", Command: []string{"/bin/sh", "-c", script},
						SecurityContext: restricted(),
					}},
				}},
			},
		}
	}
	for _, j := range []*batchv1.Job{job("token", tokenScript), job("fails", "echo failing; exit 3")} {
		if _, err := cl.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]batchv1.JobConditionType{"token": batchv1.JobComplete, "fails": batchv1.JobFailed}
	for name, cond := range want {
		waitFor(t, 60*time.Second, "job "+name, func(ctx context.Context) error {
			j, err := cl.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range j.Status.Conditions {
				if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
					if c.Type != cond {
						return fmt.Errorf("job %s ended %s, want %s (%s)", name, c.Type, cond, c.Message)
					}
					return nil
				}
			}
			return fmt.Errorf("job %s still running", name)
		})
	}
	pods, err := cl.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=fails"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of job fails: %v %v", pods, err)
	}
	p := pods.Items[0]
	if p.Status.Phase != corev1.PodFailed || p.Status.ContainerStatuses[0].State.Terminated == nil ||
		p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 3 {
		t.Errorf("failed pod: phase %s, container %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
	tokenPods, err := cl.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=token"})
	if err != nil || len(tokenPods.Items) != 1 {
		t.Fatalf("pods of job token: %v %v", tokenPods, err)
	}
	if logs := a.Logs(tokenPods.Items[0].Name, "c"); !strings.Contains(logs, "pods=200 secrets=403") {
		t.Errorf("token job log:\n%s", logs)
	}
}

// TestLivenessRestart: a liveness failure kills the container, which restarts in the same
// sandbox; the startup probe holds liveness back until it passes.
func TestLivenessRestart(t *testing.T) {
	ns, _ := setup(t, "live")
	cl := cp.Client()
	ctx := ctxT(t, time.Minute)
	script := `if [ -f /tmp/restarted ]; then rm -f /tmp/sick; else touch /tmp/restarted; sleep 1; touch /tmp/sick; fi
touch /tmp/started
exec sleep 3600`
	probe := func(cmd string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", cmd}}},
			PeriodSeconds: 1, FailureThreshold: 1}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sick"},
		Spec: corev1.PodSpec{
			SecurityContext:               podSecurity(1000, nil),
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox:1", Command: []string{"/bin/sh", "-c", script}, SecurityContext: restricted(),
				StartupProbe:  probe("test -f /tmp/started"),
				LivenessProbe: probe("test ! -f /tmp/sick"),
				VolumeMounts:  []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	pod.Spec.Containers[0].StartupProbe.FailureThreshold = 30
	if _, err := cl.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "one liveness restart", func(ctx context.Context) error {
		p, err := cl.CoreV1().Pods(ns).Get(ctx, "sick", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 {
			return fmt.Errorf("no container status")
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.RestartCount != 1 || !cs.Ready || cs.Started == nil || !*cs.Started {
			return fmt.Errorf("container status %+v", cs)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	p, err := cl.CoreV1().Pods(ns).Get(ctx, "sick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 1 {
		t.Errorf("restartCount %d after recovery, want 1", rc)
	}
}
