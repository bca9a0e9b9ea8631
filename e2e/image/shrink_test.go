package image

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/internal/images"
	"github.com/rqlite/rqlite-krm/internal/probe"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// serviceAccountDir is where the kubelet mounts a pod's service account token and CA.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// shrinkContainer is the rendered shrink Job's container as a container runtime would start it:
// the docker options its pod and container security contexts translate to, the environment the
// kubelet resolves (downward API), and the args with $(VAR) expanded.
type shrinkContainer struct {
	job     *batchv1.Job
	image   string
	options []string
	env     []string
	args    []string
}

// renderedShrinkJob renders base/spec/rqlite.yaml and prepares its shrink Job's container. Every
// field of the security contexts is translated or the test fails: a field added to the render
// must be added here, or the container would run with less than the cluster gives it.
func renderedShrinkJob(t *testing.T) shrinkContainer {
	t.Helper()
	res := generate.FromYAML([]byte(readRepo(t, "base", "spec", "rqlite.yaml")))
	if res.Problems.HasErrors() {
		t.Fatalf("base/spec/rqlite.yaml: %v", res.Problems)
	}
	var job *batchv1.Job
	for _, o := range res.Objects {
		if j, ok := o.(*batchv1.Job); ok {
			job = j
		}
	}
	if job == nil {
		t.Fatal("the render has no shrink Job")
	}
	pod := job.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 || len(pod.Volumes) != 0 {
		t.Fatalf("the shrink Job's pod changed shape (containers %d, init %d, volumes %d): extend this test", len(pod.Containers), len(pod.InitContainers), len(pod.Volumes))
	}
	c := pod.Containers[0]
	if len(c.Command) != 0 {
		t.Errorf("the Job sets command %q: it must run the image's entrypoint", c.Command)
	}
	sc := shrinkContainer{job: job, image: c.Image}

	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil || psc.RunAsUser == nil || psc.RunAsGroup == nil {
		t.Fatal("the shrink Job's pod must name its user and group")
	}
	sc.options = append(sc.options, "--user", fmt.Sprintf("%d:%d", *psc.RunAsUser, *psc.RunAsGroup))
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp %+v: only RuntimeDefault (Docker's default profile) is translated", psc.SeccompProfile)
	}
	if csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem {
		sc.options = append(sc.options, "--read-only")
	}
	if csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation {
		sc.options = append(sc.options, "--security-opt", "no-new-privileges")
	}
	if csc.Capabilities != nil {
		for _, d := range csc.Capabilities.Drop {
			sc.options = append(sc.options, "--cap-drop", string(d))
		}
		if len(csc.Capabilities.Add) > 0 {
			t.Errorf("capabilities added %v: not translated", csc.Capabilities.Add)
		}
	}
	if csc.Privileged != nil || csc.RunAsUser != nil || csc.RunAsGroup != nil || csc.ProcMount != nil || csc.SELinuxOptions != nil || csc.AppArmorProfile != nil {
		t.Errorf("container securityContext fields this test does not translate: %+v", csc)
	}
	// The function needs no network; a pod has one, but a container that works without shows
	// nothing reaches out but what the arguments name.
	sc.options = append(sc.options, "--network", "none")

	vars := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		switch f := e.ValueFrom; {
		case f == nil:
		case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.namespace":
			v = job.Namespace
		case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.labels['batch.kubernetes.io/job-name']":
			v = job.Name // the Job controller labels its pods with the Job's name
		default:
			t.Fatalf("env %s: valueFrom %+v not translated", e.Name, f)
		}
		vars[e.Name] = v
		sc.env = append(sc.env, e.Name+"="+v)
	}
	for _, a := range c.Args {
		for k, v := range vars {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		if strings.Contains(a, "$(") {
			t.Fatalf("argument %q refers to a variable the container does not define", a)
		}
		sc.args = append(sc.args, a)
	}
	return sc
}

// spec is the shrink container with extra docker options (the API server's address, the
// service account volume).
func (sc shrinkContainer) spec(image string, extra ...string) images.RunSpec {
	opts := slices.Clone(sc.options)
	for _, e := range sc.env {
		opts = append(opts, "-e", e)
	}
	return images.RunSpec{Image: image, Options: append(opts, extra...), Args: sc.args, Timeout: time.Minute}
}

// TestShrinkJobImage runs the image the rendered shrink Job names, with the Job's arguments and
// environment and under its security context (non-root, read-only root, no capabilities, no new
// privileges, and no network): the entrypoint runs `shrink` with exactly those arguments, and each
// missing input (what a pod outside Kubernetes, or without its service account, lacks) stops it
// with a message saying which. Against a real cluster it runs in the real-node tests.
func TestShrinkJobImage(t *testing.T) {
	fn := images.Function(t)
	sc := renderedShrinkJob(t)
	if sc.image != fn.Name {
		t.Fatalf("the Job runs %s, but the function image is published as %s", sc.image, fn.Name)
	}
	if sc.args[0] != "shrink" {
		t.Fatalf("the Job's first argument is %q, want the shrink subcommand", sc.args[0])
	}

	saDir := serviceAccount(t, true)
	noToken := serviceAccount(t, false)
	apiEnv := []string{"-e", "KUBERNETES_SERVICE_HOST=10.96.0.1", "-e", "KUBERNETES_SERVICE_PORT=443"}
	mount := func(dir string) []string {
		return []string{"--mount", "type=bind,src=" + dir + ",dst=" + serviceAccountDir + ",readonly"}
	}

	t.Run("runs shrink with the Job's arguments", func(t *testing.T) {
		// The probe, in front of the same entrypoint, reports what the process got.
		r := images.Run(t, sc.spec(images.Probe(t, fn.Ref, entrypoint)))
		reports, err := probe.Parse(r.Stderr)
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Stderr)
		}
		got := reports[0]
		if !slices.Equal(got.Args, sc.args) {
			t.Errorf("the entrypoint got %q, want the Job's %q", got.Args, sc.args)
		}
		uid, gid := *sc.job.Spec.Template.Spec.SecurityContext.RunAsUser, *sc.job.Spec.Template.Spec.SecurityContext.RunAsGroup
		if int64(got.UID) != uid || int64(got.GID) != gid || !got.RootReadOnly || !got.NoNewPrivs || got.CapEff != "0000000000000000" || !slices.Equal(got.Interfaces, []string{"lo"}) {
			t.Errorf("the container ran as %d:%d, read-only root %v, no_new_privs %v, capabilities %s, interfaces %v; want %d:%d, read-only, no new privileges, none, lo",
				got.UID, got.GID, got.RootReadOnly, got.NoNewPrivs, got.CapEff, got.Interfaces, uid, gid)
		}
		for _, e := range sc.env {
			if !slices.Contains(got.Env, e) {
				t.Errorf("the container's environment lacks %s", e)
			}
		}
	})

	cases := []struct {
		name   string
		extra  []string
		stderr string
	}{
		{
			name:   "not in a pod",
			stderr: "rqlite-fn shrink: Kubernetes client: not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set (use --kubeconfig)\n",
		},
		{
			name:   "no service account volume",
			extra:  apiEnv,
			stderr: "rqlite-fn shrink: Kubernetes client: reading the service account CA: open " + serviceAccountDir + "/ca.crt: no such file or directory\n",
		},
		{
			name:   "no token (automountServiceAccountToken: false)",
			extra:  append(slices.Clone(apiEnv), mount(noToken)...),
			stderr: "rqlite-fn shrink: Kubernetes client: service account token: stat " + serviceAccountDir + "/token: no such file or directory (is automountServiceAccountToken false?)\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := images.Run(t, sc.spec(fn.Ref, c.extra...))
			if r.ExitCode != 1 || r.Stderr != c.stderr || r.Stdout != "" {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1 and stderr %q", r.ExitCode, r.Stdout, r.Stderr, c.stderr)
			}
		})
	}

	t.Run("API server unreachable, then SIGTERM", func(t *testing.T) {
		// With every input present the Job starts, says what it is about to do, and waits for
		// the API server (there is no network here). A pod deletion's SIGTERM ends the wait with
		// where the run stopped and exit 1, so the Job controller retries.
		c := images.Start(t, sc.spec(fn.Ref, append(slices.Clone(apiEnv), mount(saDir)...)...))
		start := fmt.Sprintf("rqlite-fn %s shrink: StatefulSet %s/%s to %s voters via %s (without auth)",
			fn.Version, sc.job.Namespace, flagValue(t, sc.args, "--statefulset"), flagValue(t, sc.args, "--target"), flagValue(t, sc.args, "--rqlite-url"))
		c.WaitForOutput(t, start, 30*time.Second)
		c.WaitForOutput(t, "connect: network is unreachable (retrying every 2s)", 30*time.Second)
		c.Signal(t, "TERM")
		r := c.Wait(t)
		if r.ExitCode != 1 || !strings.Contains(r.Stderr, "rqlite-fn shrink: the run was stopped while waiting: reading StatefulSet "+flagValue(t, sc.args, "--statefulset")) ||
			!strings.Contains(r.Stderr, "running the Job again continues from the current state") {
			t.Errorf("after SIGTERM: exit %d\nstdout %s\nstderr %s", r.ExitCode, r.Stdout, r.Stderr)
		}
	})
}

func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("the Job's args have no %s", name)
	return ""
}

// serviceAccount writes what the kubelet mounts for a pod's service account: ca.crt, and the
// token unless withToken is false. The directory is readable by the container's non-root user.
func serviceAccount(t *testing.T, withToken bool) string {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), "namespace": []byte("rqlite")}
	if withToken {
		files["token"] = []byte("not-a-real-token." + strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
