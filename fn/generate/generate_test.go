package generate_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	testdata = "../../testdata"
	header   = "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n"
)

func renderFile(t *testing.T, path string) ([]byte, generate.Result) {
	t.Helper()
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	res := generate.FromYAML(doc)
	require.False(t, res.Problems.HasErrors(), "problems: %v", res.Problems)
	out, err := render.EncodeAll(res.Objects)
	require.NoError(t, err)
	return out, res
}

// TestGolden renders every spec under testdata/specs and compares with testdata/golden.
func TestGolden(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(testdata, "specs", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(specs), 6, "the golden cases are missing")
	for _, spec := range specs {
		name := strings.TrimSuffix(filepath.Base(spec), ".yaml")
		t.Run(name, func(t *testing.T) {
			out, _ := renderFile(t, spec)
			golden.Assert(t, filepath.Join(testdata, "golden", name+".yaml"), out)
		})
	}
}

func TestDeterministic(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join(testdata, "specs", "*.yaml"))
	require.NoError(t, err)
	for _, spec := range specs {
		first, _ := renderFile(t, spec)
		for i := 0; i < 20; i++ {
			again, _ := renderFile(t, spec)
			require.Equal(t, string(first), string(again), "%s rendered differently on run %d", spec, i+2)
		}
	}
}

func spec(voters, readOnly int, staticPeers bool) []byte {
	return fmt.Appendf(nil, `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
spec:
  voters:
    replicas: %d
  readOnly:
    replicas: %d
  recovery:
    staticPeers: %t
`, voters, readOnly, staticPeers)
}

// objectsByID encodes every object, keyed by kind/name.
func objectsByID(t *testing.T, doc []byte) map[string]render.Object {
	t.Helper()
	res := generate.FromYAML(doc)
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	out := map[string]render.Object{}
	for _, o := range res.Objects {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		if kind == "Job" {
			out["Job/shrink"] = o // its name carries the target
			continue
		}
		out[kind+"/"+o.GetName()] = o
	}
	return out
}

func encode(t *testing.T, o any) string {
	t.Helper()
	b, err := yaml.Marshal(o)
	require.NoError(t, err)
	return string(b)
}

// TestScaleNeverChangesPodTemplates is the core promise: for every voter count 1..15 and read-only
// count 0..10, and with recovery on or off, both pod templates are byte-identical, and the only
// objects that change are the StatefulSets' replicas, the ConfigMap's data and the voter PDB.
func TestScaleNeverChangesPodTemplates(t *testing.T) {
	ref := objectsByID(t, spec(3, 1, false))
	for voters := 1; voters <= 15; voters++ {
		for ro := 0; ro <= 10; ro++ {
			for _, static := range []bool{false, true} {
				got := objectsByID(t, spec(voters, ro, static))
				_, hasJob := got["Job/shrink"]
				require.Equal(t, !static, hasJob, "the shrink Job is left out while recovering")
				for id, want := range ref {
					have, ok := got[id]
					if static && strings.Contains(id, "shrink") {
						continue
					}
					require.True(t, ok, "voters=%d ro=%d: %s missing", voters, ro, id)
					switch w := want.(type) {
					case *appsv1.StatefulSet:
						h := have.(*appsv1.StatefulSet)
						require.Equal(t, encode(t, w.Spec.Template), encode(t, h.Spec.Template),
							"voters=%d ro=%d static=%t: pod template of %s changed", voters, ro, static, id)
						wantReplicas := int32(voters)
						if h.Name == "rqlite-readonly" {
							wantReplicas = int32(ro)
						}
						require.Equal(t, wantReplicas, *h.Spec.Replicas)
						hc, wc := h.DeepCopy(), w.DeepCopy()
						hc.Spec.Replicas, wc.Spec.Replicas = nil, nil
						require.Equal(t, encode(t, wc), encode(t, hc), "%s differs beyond replicas", id)
					case *corev1.ConfigMap:
						h := have.(*corev1.ConfigMap)
						// One more than the voters while recovering: no new cluster may bootstrap.
						expect := voters
						if static {
							expect++
						}
						assert.Equal(t, fmt.Sprint(expect), h.Data[model.KeyBootstrapExpect])
						assert.Equal(t, fmt.Sprint(static), h.Data[model.KeyStaticPeers])
						hc, wc := h.DeepCopy(), w.DeepCopy()
						hc.Data, wc.Data = nil, nil
						require.Equal(t, encode(t, wc), encode(t, hc))
					case *batchv1.Job:
						// The shrink Job is the one object whose identity follows the target.
						h := have.(*batchv1.Job)
						assert.Contains(t, h.Name, fmt.Sprintf("rqlite-shrink-to-%d-", voters))
						assert.Contains(t, h.Spec.Template.Spec.Containers[0].Args, fmt.Sprintf("--target=%d", voters))
						hc, wc := h.DeepCopy(), w.DeepCopy()
						hc.Name, wc.Name = "", ""
						hc.Spec.Template.Spec.Containers[0].Args, wc.Spec.Template.Spec.Containers[0].Args = nil, nil
						require.Equal(t, encode(t, wc), encode(t, hc))
					case *policyv1.PodDisruptionBudget:
						h := have.(*policyv1.PodDisruptionBudget)
						hc, wc := h.DeepCopy(), w.DeepCopy()
						hc.Spec.MaxUnavailable, wc.Spec.MaxUnavailable = nil, nil
						require.Equal(t, encode(t, wc), encode(t, hc))
					default:
						require.Equal(t, encode(t, want), encode(t, have), "voters=%d ro=%d: %s changed", voters, ro, id)
					}
				}
			}
		}
	}
}

// TestPDBNeverAllowsLosingQuorum checks the voter PDB against the quorum arithmetic.
func TestPDBNeverAllowsLosingQuorum(t *testing.T) {
	for voters := 1; voters <= 15; voters++ {
		got := objectsByID(t, spec(voters, 0, false))
		pdb := got["PodDisruptionBudget/rqlite"].(*policyv1.PodDisruptionBudget)
		maxUnavailable := pdb.Spec.MaxUnavailable.IntValue()
		quorum := voters/2 + 1
		assert.GreaterOrEqual(t, voters-maxUnavailable, quorum, "voters=%d: PDB allows %d down, leaving less than a quorum of %d", voters, maxUnavailable, quorum)
		assert.Equal(t, voters-quorum, maxUnavailable, "voters=%d: PDB is stricter than needed", voters)
	}
	for n, want := range map[int32]int32{1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 7: 3, 9: 4} {
		assert.Equal(t, want, model.MaxUnavailableVoters(n), "N=%d", n)
	}
}

// TestPeersMatchPods checks peers.json against the rendered objects, for several cluster names,
// namespaces and cluster domains: every id is a voter pod name and every address is that pod's
// DNS name under the StatefulSet's governing Service, as the pod itself advertises it.
func TestPeersMatchPods(t *testing.T) {
	for _, tc := range []struct{ name, namespace, domain string }{
		{"rqlite", "", ""},
		{"db", "prod", "cluster.local"},
		{"orders-store", "team-a", "k8s.example.internal"},
		{"x1", "default", "corp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: %s\n", tc.name)
			if tc.namespace != "" {
				doc += "  namespace: " + tc.namespace + "\n"
			}
			doc += "spec:\n  voters:\n    replicas: 5\n  readOnly:\n    replicas: 2\n"
			if tc.domain != "" {
				doc += "  clusterDomain: " + tc.domain + "\n"
			}
			objs := objectsByID(t, []byte(doc))
			sts := objs["StatefulSet/"+tc.name].(*appsv1.StatefulSet)
			headless, ok := objs["Service/"+sts.Spec.ServiceName].(*corev1.Service)
			require.True(t, ok, "serviceName %q names no rendered Service", sts.Spec.ServiceName)
			require.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
			require.True(t, headless.Spec.PublishNotReadyAddresses)
			for k, v := range headless.Spec.Selector {
				require.Equal(t, v, sts.Spec.Template.Labels[k], "headless Service does not select the voter pods")
			}
			cm := objs["ConfigMap/"+tc.name+"-config"].(*corev1.ConfigMap)
			var peers []model.Peer
			require.NoError(t, yaml.Unmarshal([]byte(cm.Data[model.KeyPeersJSON]), &peers))
			require.Len(t, peers, int(*sts.Spec.Replicas))
			args := sts.Spec.Template.Spec.Containers[0].Args
			for i, p := range peers {
				pod := fmt.Sprintf("%s-%d", sts.Name, i)
				assert.Equal(t, pod, p.ID)
				assert.False(t, p.NonVoter)
				assert.Equal(t, fmt.Sprintf("%s.%s:4002", pod, sts.Spec.ServiceName), p.Address)
				// The pod advertises exactly the address peers.json records for it.
				assert.Contains(t, expand(args, pod, tc.namespace), "-raft-adv-addr="+p.Address)
				ns := tc.namespace
				if ns == "" {
					ns = "default"
				}
				domain := tc.domain
				if domain == "" {
					domain = "cluster.local"
				}
				assert.Contains(t, expand(args, pod, ns), fmt.Sprintf("-http-adv-addr=%s.%s.%s.svc.%s:4001", pod, sts.Spec.ServiceName, ns, domain))
			}
			assert.Contains(t, args, fmt.Sprintf(`-disco-config={"name":%q}`, sts.Spec.ServiceName))
			// Read-only nodes discover the voters, not each other.
			ro := objs["StatefulSet/"+tc.name+"-readonly"].(*appsv1.StatefulSet)
			assert.Contains(t, ro.Spec.Template.Spec.Containers[0].Args, fmt.Sprintf(`-disco-config={"name":%q}`, sts.Spec.ServiceName))
			assert.Contains(t, expand(ro.Spec.Template.Spec.Containers[0].Args, tc.name+"-readonly-1", ns(tc.namespace)), fmt.Sprintf("-raft-adv-addr=%s-readonly-1.%s:4002", tc.name, ro.Spec.ServiceName))
		})
	}
}

func ns(n string) string {
	if n == "" {
		return "default"
	}
	return n
}

// expand performs the kubelet's $(VAR) expansion for the downward-API variables.
func expand(args []string, pod, namespace string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "$(POD_NAME)", pod)
		out[i] = strings.ReplaceAll(a, "$(POD_NAMESPACE)", namespace)
	}
	return out
}

// TestRoles checks what distinguishes voters from read-only nodes.
func TestRoles(t *testing.T) {
	objs := objectsByID(t, spec(3, 2, false))
	voter := objs["StatefulSet/rqlite"].(*appsv1.StatefulSet).Spec.Template.Spec
	ro := objs["StatefulSet/rqlite-readonly"].(*appsv1.StatefulSet).Spec.Template.Spec
	va, ra := voter.Containers[0].Args, ro.Containers[0].Args
	assert.Contains(t, ra, "-raft-non-voter=true")
	assert.Contains(t, ra, "-raft-cluster-remove-shutdown=true")
	assert.NotContains(t, strings.Join(va, " "), "raft-non-voter")
	assert.NotContains(t, strings.Join(va, " "), "remove-shutdown", "voters must never remove themselves on shutdown")
	assert.Contains(t, va, "-bootstrap-expect=$(RQLITE_BOOTSTRAP_EXPECT)")
	assert.NotContains(t, strings.Join(ra, " "), "bootstrap-expect")
	assert.Equal(t, "/rqlite/file/data", va[len(va)-1], "data directory must be the last argument")
	for _, p := range []corev1.PodSpec{voter, ro} {
		assert.GreaterOrEqual(t, *p.TerminationGracePeriodSeconds, int64(30))
		assert.False(t, *p.AutomountServiceAccountToken)
		c := p.Containers[0]
		assert.Equal(t, "/readyz?sync&timeout=2s", c.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, "/readyz?noleader", c.LivenessProbe.HTTPGet.Path)
		assert.NotNil(t, c.StartupProbe)
		assert.NotNil(t, c.Lifecycle.PreStop)
		assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
		assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
		assert.True(t, *p.SecurityContext.RunAsNonRoot)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, p.SecurityContext.SeccompProfile.Type)
		require.NotNil(t, p.Affinity.PodAntiAffinity)
	}
	// Only voters install peers.json: read-only nodes rejoin through discovery after a recovery.
	require.Len(t, voter.InitContainers, 1)
	assert.Empty(t, ro.InitContainers)
}

func TestAutoscaledPoolHasNoReplicas(t *testing.T) {
	out, res := renderFile(t, filepath.Join(testdata, "specs", "readonly-hpa.yaml"))
	var found bool
	for _, o := range res.Objects {
		if sts, ok := o.(*appsv1.StatefulSet); ok && sts.Name == "orders-readonly" {
			found = true
			assert.Nil(t, sts.Spec.Replicas, "an HPA-owned StatefulSet must not carry replicas, or every apply resets the HPA's choice")
		}
	}
	require.True(t, found)
	assert.Contains(t, string(out), "kind: HorizontalPodAutoscaler")
	assert.Contains(t, string(out), "name: orders-readonly\n")
	assert.True(t, bytes.Contains(out, []byte("readonly-replicas: autoscaled")))
}
