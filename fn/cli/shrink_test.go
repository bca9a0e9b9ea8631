package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

func shrinkCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append([]string{"shrink"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

var required = []string{"--namespace=db", "--statefulset=rqlite", "--target=3", "--rqlite-url=http://rqlite:4001"}

// without returns the required flags minus one.
func without(flag string) []string {
	return slices.DeleteFunc(slices.Clone(required), func(a string) bool { return strings.HasPrefix(a, flag+"=") })
}

func TestShrinkHelp(t *testing.T) {
	for _, h := range []string{"--help", "-h"} {
		code, out, errOut := shrinkCmd(t, h)
		assert.Equal(t, 0, code)
		assert.Empty(t, errOut)
		for _, want := range []string{
			"usage: rqlite-fn shrink", "-namespace", "-statefulset", "-target", "-rqlite-url", "-headless",
			"-username", "-password-file", "RQLITE_PASSWORD", "-ca-file", "-kubeconfig", "-timeout",
			"-poll-interval", "-leader-wait", "-pod-timeout", "Exit status: 0", "status, leader-ops and remove",
		} {
			assert.Contains(t, out, want)
		}
	}
	code, out, _ := run(t, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "rqlite-fn shrink")
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestShrinkUsageErrors(t *testing.T) {
	missingFile := filepath.Join(t.TempDir(), "nope")
	cases := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"nothing", nil, "", "missing --namespace, --statefulset, --rqlite-url, --target"},
		{"no target", without("--target"), "", "missing --target"},
		{"no url", without("--rqlite-url"), "", "missing --rqlite-url"},
		{"target 0", append(without("--target"), "--target=0"), "", "--target=0: at least one voter must stay"},
		{"target not a number", append(without("--target"), "--target=three"), "", `invalid value "three" for flag -target`},
		{"bad url", append(slices.Clone(required), "--rqlite-url=rqlite:4001"), "", `--rqlite-url "rqlite:4001": want http(s)://host:port`},
		{"password as a flag", append(slices.Clone(required), "--password=x"), "", `unknown flag "--password"`},
		{"unknown flag", append(slices.Clone(required), "--force"), "", `unknown flag "--force"`},
		{"positional", append(slices.Clone(required), "extra"), "", `unexpected arguments ["extra"]`},
		{"password without user", required, "pw", "a password is set (--password-file or $RQLITE_PASSWORD) but --username is not"},
		{"user without password", append(slices.Clone(required), "--username=u"), "", `--username "u" needs a password`},
		{"missing password file", append(slices.Clone(required), "--username=u", "--password-file="+missingFile), "", "--password-file: open " + missingFile},
		{"ca file with http", append(slices.Clone(required), "--ca-file=/ca.pem"), "", "--ca-file is set but --rqlite-url"},
		{"zero poll", append(slices.Clone(required), "--poll-interval=0s"), "", "--poll-interval=0s: must be positive"},
		{"client cert with http", append(slices.Clone(required), "--cert-file=/c.pem", "--key-file=/k.pem"), "", "--cert-file is set but --rqlite-url"},
		{"client cert without key", append(without("--rqlite-url"), "--rqlite-url=https://rqlite:4001", "--cert-file=/c.pem"), "", "--cert-file and --key-file go together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PasswordEnv, tc.env)
			code, out, errOut := shrinkCmd(t, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.want)
		})
	}
}

func TestShrinkParseArgs(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pwFile, []byte("from file \n"), 0o600))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == PasswordEnv {
				return v
			}
			return ""
		}
	}
	parse := func(getenv func(string) string, args ...string) shrinkOptions {
		t.Helper()
		var out, errb bytes.Buffer
		o, err := parseShrinkArgs(args, getenv, &out, &errb)
		require.NoError(t, err, errb.String())
		return o
	}

	// Exactly what the rendered Job passes (after the kubelet's $(VAR) expansion).
	o := parse(env(""), "--namespace=db", "--statefulset=rqlite", "--target=3",
		"--rqlite-url=http://rqlite:4001", "--headless=rqlite-headless")
	assert.Equal(t, shrinkOptions{
		Namespace: "db", StatefulSet: "rqlite", Target: 3, URLs: []string{"http://rqlite:4001"},
		Headless: "rqlite-headless", Timeout: 50 * time.Minute, Poll: 2 * time.Second,
		LeaderWait: 30 * time.Second, PodTimeout: 10 * time.Minute,
	}, o)

	o = parse(env(""), append(slices.Clone(required), "--rqlite-url=https://a:4001, https://b:4001",
		"--ca-file=/ca.pem", "--kubeconfig=/kc", "--timeout=5m", "--poll-interval=250ms", "--leader-wait=1m", "--pod-timeout=2m")...)
	assert.Equal(t, []string{"https://a:4001", "https://b:4001"}, o.URLs)
	assert.Equal(t, "/ca.pem", o.CAFile)
	assert.Equal(t, "/kc", o.Kubeconfig)
	assert.Equal(t, []time.Duration{5 * time.Minute, 250 * time.Millisecond, time.Minute, 2 * time.Minute},
		[]time.Duration{o.Timeout, o.Poll, o.LeaderWait, o.PodTimeout})

	o = parse(env("from env"), append(slices.Clone(required), "--username=shrink")...)
	assert.Equal(t, "shrink", o.Username)
	assert.Equal(t, "from env", o.Password)

	// The file wins over the environment; only the trailing newline goes,
	// other whitespace may be part of the password.
	o = parse(env("from env"), append(slices.Clone(required), "--username=shrink", "--password-file="+pwFile)...)
	assert.Equal(t, "from file ", o.Password)
}

func TestShrinkKubeconfigNowhere(t *testing.T) {
	t.Run("no such file", func(t *testing.T) {
		code, _, errOut := shrinkCmd(t, append(slices.Clone(required), "--kubeconfig=/nonexistent/kubeconfig")...)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "rqlite-fn shrink: Kubernetes client: reading kubeconfig: open /nonexistent/kubeconfig")
	})
	t.Run("not in a pod", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		code, _, errOut := shrinkCmd(t, required...)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "not running in a pod")
		assert.Contains(t, errOut, "--kubeconfig")
	})
	t.Run("API server not answering", func(t *testing.T) {
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {token: t}}]
`), 0o600))
		start := time.Now()
		code, _, errOut := shrinkCmd(t, append(slices.Clone(required), "--kubeconfig="+kc, "--leader-wait=1s", "--poll-interval=100ms")...)
		assert.Equal(t, 1, code)
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Contains(t, errOut, "cannot read StatefulSet rqlite for 1s")
		assert.Contains(t, errOut, "connection refused")
	})
}

// TestShrinkCommandEndToEnd runs the command as the Job would, with the
// rendered ServiceAccount's permissions against a real kube-apiserver and
// StatefulSet controller, and real rqlited voters behind auth. No kubelet
// runs here, so a minimal stand-in handles pod deletion only: a finalizer
// keeps each voter pod until its rqlited process has been stopped (SIGTERM),
// which is the order a kubelet guarantees. Fuller end-to-end tests with a pod
// agent live elsewhere.
func TestShrinkCommandEndToEnd(t *testing.T) {
	const ns = "shrink-cli"
	cp := testenv.StartControlPlane(t, testenv.ControlPlaneOptions{ControllerManager: true})
	testenv.CreateRestrictedNamespace(t, cp, ns)

	users := filepath.Join(t.TempDir(), "users.json")
	b, err := json.Marshal([]map[string]any{
		{"username": "admin", "password": "admin-pw", "perms": []string{"all"}},
		{"username": "shrink", "password": "s3cret", "perms": []string{"remove", "status", "leader-ops"}},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(users, b, 0o600))
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{
		Voters: 5, NonVoters: 1, Username: "admin", Password: "admin-pw", ExtraArgs: []string{"-auth", users},
	})

	spec := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: %s\nspec:\n  voters:\n    replicas: 5\n", ns)
	res := generate.FromYAML([]byte(spec))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	manifests, err := render.EncodeAll(res.Objects)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, testenv.ServerSideApply(ctx, cp, ns, manifests, "rqlite-krm-test"))

	k := startFakeKubelet(t, cp, c, ns)
	k.waitManaged(t, 5)

	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	urls := make([]string, 5)
	for i := range urls {
		urls[i] = c.Node(i).URL
	}
	// The rendered Job's own arguments (the client Service stands for the
	// voters' URLs here), plus what running outside a pod needs.
	job := render.ShrinkArgs(res.Cluster)
	require.Equal(t, "shrink", job[0])
	var args []string
	for _, a := range job[1:] {
		switch {
		case strings.HasPrefix(a, "--namespace="):
			a = "--namespace=" + ns
		case strings.HasPrefix(a, "--target="):
			a = "--target=3"
		case strings.HasPrefix(a, "--rqlite-url="):
			a = "--rqlite-url=" + strings.Join(urls, ",")
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+cp.ServiceAccountKubeconfig(t, ns, "rqlite-shrink"), "--username=shrink",
		"--password-file="+pw, "--poll-interval=100ms", "--timeout=2m")

	code, out, errOut := shrinkCmd(t, args...)
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "step 1/1: 5 → 3 voters: scaled StatefulSet rqlite to 3")
	assert.Contains(t, out, "removed rqlite-4 (confirmed)")
	assert.Contains(t, out, "done: StatefulSet rqlite scaled from 5 to 3 replicas")
	assert.Contains(t, out, "non-voters untouched: rqlite-readonly-0")

	sts, err := cp.Client().AppsV1().StatefulSets(ns).Get(ctx, "rqlite", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *sts.Spec.Replicas)
	for i := range 5 {
		assert.Equal(t, i < 3, c.Node(i).Running(), "rqlite-%d", i)
	}
	nodes, err := c.Client(c.LeaderIndex()).Nodes(ctx)
	require.NoError(t, err)
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	assert.Equal(t, []string{"rqlite-0", "rqlite-1", "rqlite-2", "rqlite-readonly-0"}, ids)

	// The same Job again (Argo CD re-syncs, kpt re-applies): nothing to do.
	code, out, _ = shrinkCmd(t, args...)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "nothing to do: StatefulSet rqlite has 3 replicas (target 3)")
}

// fakeKubelet stops the rqlited process of a voter pod that is being deleted,
// then lets the pod object go by dropping its finalizer.
type fakeKubelet struct {
	mu      sync.Mutex
	managed map[string]bool
}

const kubeletFinalizer = "test.rqlite.io/fake-kubelet"

func startFakeKubelet(t *testing.T, cp *testenv.ControlPlane, c *testenv.RqliteCluster, ns string) *fakeKubelet {
	k := &fakeKubelet{managed: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	pods := cp.Client().CoreV1().Pods(ns)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=voter"})
			if err == nil {
				for _, p := range list.Items {
					has := slices.Contains(p.Finalizers, kubeletFinalizer)
					switch {
					case p.DeletionTimestamp == nil && !has:
						patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, kubeletFinalizer)
						if _, err := pods.Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err == nil {
							k.mu.Lock()
							k.managed[p.Name] = true
							k.mu.Unlock()
						}
					case p.DeletionTimestamp != nil && has:
						for i := range c.Len() {
							if c.Node(i).ID == p.Name {
								_ = c.Stop(i)
							}
						}
						_, _ = pods.Patch(ctx, p.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return k
}

func (k *fakeKubelet) waitManaged(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.managed) == n
	}, time.Minute, 50*time.Millisecond)
}
