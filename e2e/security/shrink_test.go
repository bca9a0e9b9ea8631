package security

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/equality"
)

// TestShrinkJob runs the built rqlite-fn with the rendered shrink Job's args and env against a
// TLS + auth cluster of real rqlited: 3 voters, and a spec lowered to 2. The Kubernetes side is a
// fake (kubeapi_test.go). The only argument added is --kubeconfig, standing in for the service
// account the kubelet would mount.
func TestShrinkJob(t *testing.T) {
	for _, tc := range []struct {
		name       string
		clientMTLS bool
	}{
		{"https", false},
		{"https with client mTLS", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := startSecureCluster(t, clusterOptions{voters: 3, clientMTLS: tc.clientMTLS})
			lowered := renderSpec(t, specDoc(2, tc.clientMTLS))
			assert.True(t, equality.Semantic.DeepEqual(sc.statefulSet(t, true).Spec.Template, lowered.statefulSet(t, name).Spec.Template),
				"lowering voters must not change the pod template")

			job := lowered.shrinkJob(t)
			tmpl := &job.Spec.Template
			c := container(t, &tmpl.Spec, "shrink")
			require.Empty(t, c.Command, "the image's entrypoint is rqlite-fn")
			p := sc.kubelet.Prepare(t, job.Name+"-x7k2q", tmpl, nil, "shrink")
			require.Equal(t, "shrink", p.Args[0])
			assert.Contains(t, p.Args, "--username=operator")
			assert.Contains(t, p.Args, "--rqlite-url=https://"+name+":4001")

			api := newFakeStatefulSetAPI(t, sc, sc.statefulSet(t, true), lowered.role(t, name+"-shrink"))
			args := append(slices.Clone(p.Args), "--kubeconfig="+api.kubeconfig(t))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, fnBin, args...)
			cmd.Env = append(jobBaseEnv(), p.Env...)
			cmd.Env = append(cmd.Env, "HTTPS_PROXY="+sc.res.connectProxy(t), "NO_PROXY=")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("rqlite-fn %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out.String())
			require.NoError(t, err, "the shrink Job must succeed")

			replicas, pods, requests, denied := api.state()
			assert.Empty(t, denied, "requests the rendered Role does not grant")
			assert.Equal(t, 2, replicas)
			assert.Equal(t, []int{0, 1}, pods)
			t.Logf("Kubernetes API requests: %s", strings.Join(requests, ", "))

			nodes, err := sc.client("admin", adminPassword).Nodes(ctxFor(t, 10*time.Second))
			require.NoError(t, err)
			var voters []string
			for _, n := range nodes {
				if n.Voter {
					voters = append(voters, n.ID)
				}
			}
			assert.Equal(t, []string{name + "-0", name + "-1"}, voters)
		})
	}
}

// jobBaseEnv is this process's environment without what would change how rqlite-fn reaches its
// servers: proxies (the test sets its own) and in-cluster API settings.
func jobBaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "RQLITE_PASSWORD":
			continue
		}
		env = append(env, kv)
	}
	return env
}
