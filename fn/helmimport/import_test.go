package helmimport_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/helmimport"
	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const (
	goldenDir = "../../testdata/helm"
	schemaRef = "../../schema/rqlitespec.schema.json"
)

// values is a case's values file (internal/helmchart); the defaults case imports the chart's
// documented defaults written out in full, as `helm show values` prints them.
func values(t *testing.T, c helmchart.Case) []byte {
	t.Helper()
	if c.ValuesFile == "" {
		b, err := yaml.Marshal(helmchart.DefaultValues())
		require.NoError(t, err)
		return b
	}
	return []byte(c.Values)
}

// chart is the objects of a chart render that the adoption depends on.
type chart struct {
	sts  map[string]*appsv1.StatefulSet
	svcs map[string]*corev1.Service
}

// chartOf indexes the chart's objects (internal/helmchart's facts) the adoption depends on.
func chartOf(objs []runtime.Object) chart {
	c := chart{sts: map[string]*appsv1.StatefulSet{}, svcs: map[string]*corev1.Service{}}
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.StatefulSet:
			c.sts[v.Name] = v
		case *corev1.Service:
			c.svcs[v.Name] = v
		}
	}
	return c
}

// render runs the function on the imported spec, exactly as `rqlite-fn render` would.
func render(t *testing.T, spec []byte) chart {
	t.Helper()
	res := generate.FromYAML(spec)
	require.False(t, res.Problems.HasErrors(), "the imported spec does not render: %v\n%s", res.Problems, spec)
	c := chart{sts: map[string]*appsv1.StatefulSet{}, svcs: map[string]*corev1.Service{}}
	for _, o := range res.Objects {
		switch v := o.(type) {
		case *appsv1.StatefulSet:
			c.sts[v.Name] = v
		case *corev1.Service:
			c.svcs[v.Name] = v
		}
	}
	return c
}

// expand does what the kubelet does with $(VAR) in args.
func expand(arg string, env map[string]string) string {
	for k, v := range env {
		arg = strings.ReplaceAll(arg, "$("+k+")", v)
	}
	return arg
}

func flagValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func importFile(t *testing.T, opts helmimport.Options, c helmchart.Case) *helmimport.Result {
	t.Helper()
	res, err := helmimport.Import(opts, values(t, c))
	require.NoError(t, err)
	return res
}

// TestChartDefaultsMatchTheChart keeps the embedded defaults equal to the chart's documented ones
// (internal/helmchart's facts, which `make helm-reference` compares with the chart itself).
func TestChartDefaultsMatchTheChart(t *testing.T) {
	want := helmchart.DefaultValues()
	got, err := helmimport.Import(helmimport.Options{Namespace: "db"}, values(t, helmchart.Lookup("defaults")))
	require.NoError(t, err)
	empty, err := helmimport.Import(helmimport.Options{Namespace: "db"}, nil)
	require.NoError(t, err)
	assert.Equal(t, string(empty.YAML), string(got.YAML), "importing the chart's defaults must equal importing no values")
	assert.Equal(t, want, helmimport.ChartDefaults())
}

// TestImportMatchesTheChartsRender imports each reference values file, renders the spec and checks
// that the render replaces the chart's objects in place: the same StatefulSets (name, governing
// Service, selector, replicas, claim templates — the immutable fields and the PVC names), the same
// Services (names, selectors, ports) and, pod by pod, the node id and Raft address the chart's
// nodes have in their Raft configuration (`hostname -f`:4002).
func TestImportMatchesTheChartsRender(t *testing.T) {
	require.Len(t, helmchart.Cases, 5, "defaults, 3 and 9 voters, 3 voters + 3 read-only, full features")
	for _, tc := range helmchart.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			res := importFile(t, helmimport.Options{Namespace: "db", SchemaRef: schemaRef}, tc)
			golden.Assert(t, filepath.Join(goldenDir, tc.Name+".yaml"), res.YAML)
			var report bytes.Buffer
			require.NoError(t, res.Report.WriteText(&report))
			golden.Assert(t, filepath.Join(goldenDir, tc.Name+".report.txt"), report.Bytes())

			want := chartOf(tc.Objects())
			got := render(t, res.YAML)
			unsupported := map[string]bool{}
			for _, e := range res.Report.Unsupported() {
				unsupported[e.Path] = true
			}
			assertAdopts(t, want, got, "db", unsupported)
		})
	}
}

func assertAdopts(t *testing.T, want, got chart, ns string, unsupported map[string]bool) {
	t.Helper()
	require.Equal(t, sortedKeys(want.sts), sortedKeys(got.sts), "StatefulSets")
	for name, c := range want.sts {
		o := got.sts[name]
		assert.Equal(t, c.Spec.ServiceName, o.Spec.ServiceName, "%s serviceName", name)
		assert.Equal(t, c.Spec.Selector, o.Spec.Selector, "%s selector (immutable)", name)
		assert.Equal(t, *c.Spec.Replicas, *o.Spec.Replicas, "%s replicas", name)
		require.Len(t, o.Spec.VolumeClaimTemplates, len(c.Spec.VolumeClaimTemplates), name)
		for i := range c.Spec.VolumeClaimTemplates {
			cv, ov := c.Spec.VolumeClaimTemplates[i], o.Spec.VolumeClaimTemplates[i]
			assert.Equal(t, cv.Name, ov.Name, "%s claim name (PVC names are <claim>-<pod>)", name)
			assert.Equal(t, cv.Spec.Resources.Requests.Storage().String(), ov.Spec.Resources.Requests.Storage().String(), "%s claim size", name)
			assert.Equal(t, cv.Spec.StorageClassName, ov.Spec.StorageClassName, "%s storage class", name)
			assert.Equal(t, cv.Spec.AccessModes, ov.Spec.AccessModes, "%s access modes", name)
		}
		// The chart's pods keep their data where the claim is mounted, /rqlite.
		cc, oc := c.Spec.Template.Spec.Containers[0], o.Spec.Template.Spec.Containers[0]
		assert.Contains(t, cc.VolumeMounts, corev1.VolumeMount{Name: "storage", MountPath: "/rqlite"})
		assert.Contains(t, oc.VolumeMounts, corev1.VolumeMount{Name: "storage", MountPath: "/rqlite"})
		assert.Equal(t, "/rqlite", oc.Args[len(oc.Args)-1], "%s data directory", name)
		assert.Equal(t, c.Spec.Template.Labels["app.kubernetes.io/instance"], o.Spec.Template.Labels["app.kubernetes.io/instance"])
		for i := 0; i < int(*c.Spec.Replicas); i++ {
			pod := fmt.Sprintf("%s-%d", name, i)
			env := map[string]string{"POD_NAME": pod, "POD_NAMESPACE": ns}
			assert.Equal(t, pod, expand(flagValue(oc.Args, "-node-id"), env), "node id")
			// The chart's image entrypoint advertises `hostname -f`: <pod>.<governing Service>.<ns>.svc.<domain>.
			raft := fmt.Sprintf("%s.%s.%s.svc.cluster.local:4002", pod, c.Spec.ServiceName, ns)
			assert.Equal(t, raft, expand(flagValue(oc.Args, "-raft-adv-addr"), env), "Raft address of %s", pod)
		}
	}
	require.Equal(t, sortedKeys(want.svcs), sortedKeys(got.svcs), "Services")
	for name, c := range want.svcs {
		o := got.svcs[name]
		ro := strings.Contains(name, "readonly")
		assert.Equal(t, c.Spec.Selector, o.Spec.Selector, "%s selector", name)
		assert.Equal(t, c.Spec.ClusterIP, o.Spec.ClusterIP, "%s clusterIP (None for the headless ones)", name)
		if !(ro && unsupported["readonly.service.type"]) {
			assert.Equal(t, c.Spec.Type, o.Spec.Type, "%s type", name)
		}
		require.Len(t, o.Spec.Ports, len(c.Spec.Ports), name)
		for i := range c.Spec.Ports {
			cp, op := c.Spec.Ports[i], o.Spec.Ports[i]
			assert.Equal(t, cp.Name, op.Name, "%s port name (Ingresses refer to it)", name)
			assert.Equal(t, cp.TargetPort, op.TargetPort, "%s target port", name)
			if cp.Name == "http" && unsupported["service.port"] {
				assert.NotEqual(t, cp.Port, op.Port, "service.port is reported unsupported, so the ports must differ")
				continue
			}
			assert.Equal(t, cp.Port, op.Port, "%s port: clients keep their URLs", name)
		}
	}
}

// TestFullFeaturesUnsupported pins exactly which values of the chart's full-featured example the
// spec cannot express; each has a reason, and each needing the user has an action.
func TestFullFeaturesUnsupported(t *testing.T) {
	res := importFile(t, helmimport.Options{Namespace: "db"}, helmchart.Lookup("fullfeatures"))
	var paths []string
	for _, e := range res.Report.Unsupported() {
		paths = append(paths, e.Path)
		assert.NotEmpty(t, e.Reason, e.Path)
	}
	assert.Equal(t, []string{
		"config.backup.storage.accessKeyId",
		"config.backup.storage.secretAccessKey",
		"config.tls.client.ca",
		"config.tls.client.cert",
		"config.tls.client.key",
		"config.tls.node.caSecretName",
		"config.tls.node.verifyServerName",
		"config.users",
		"extraFiles",
		"ingress",
		"persistence.labels",
		"readonly.ingress",
		"readonly.service.nodePort",
		"readonly.service.type",
		"service.nodePort",
		"service.port",
		"serviceAccount.name",
	}, paths)
	for _, p := range []string{"config.backup.storage.accessKeyId", "config.tls.client.cert", "config.users", "extraFiles", "ingress", "serviceAccount.name", "config.tls.node.verifyServerName"} {
		e, _ := res.Report.Entry(p)
		assert.NotEmpty(t, e.Action, "%s needs an action", p)
	}
	users, _ := res.Report.Entry("config.users")
	assert.Contains(t, users.Action, `kubectl -n db create secret generic rqlite-users --from-file=users.json=users.json`)
	assert.Contains(t, users.Action, `{"username": "*", "perms": ["ready"]}`)
	backup, _ := res.Report.Entry("config.backup.storage.accessKeyId")
	assert.Contains(t, backup.Action, "kubectl -n db create secret generic rqlite-backup --from-literal=access-key-id=")
	assert.NotContains(t, res.Report.Entries, "SK", "no secret value in the report")
	var all bytes.Buffer
	require.NoError(t, res.Report.WriteJSON(&all))
	for _, secret := range []string{`"SK"`, `"AK"`, "secret\"", "CERT", "KEY\""} {
		assert.NotContains(t, all.String(), secret, "the report must not repeat an inlined secret")
	}
	assert.NotContains(t, string(res.YAML), "SK")

	// Every value the user wrote is accounted for by a deliberate mapping.
	for _, e := range res.Report.Entries {
		assert.NotContains(t, e.Reason, "does not handle", e.Path)
	}
	// What maps, maps where it should.
	s := res.Spec.Spec
	require.NotNil(t, s.Auth)
	assert.Equal(t, "rqlite-users", s.Auth.UsersSecret.Name)
	assert.Equal(t, "_system_rqlite", s.Auth.JoinAs)
	assert.Equal(t, "node-tls", s.TLS.Node.SecretName)
	assert.True(t, s.TLS.Node.VerifyClient)
	assert.Equal(t, "rqlite-client-tls", s.TLS.Client.SecretName)
	assert.False(t, s.TLS.Client.VerifyClient, "the chart never enabled client verification")
	assert.Equal(t, "https://s3.example.com", s.Backup.S3.Endpoint, "as the chart writes it into backup.json")
	assert.True(t, s.Backup.S3.ForcePathStyle)
	assert.Equal(t, "30m", s.Backup.Interval)
	assert.True(t, s.Backup.Timestamp)
	assert.True(t, s.Backup.Restore.Enabled)
	assert.Equal(t, "rqlite-backup", s.Backup.S3.AccessKeyID.Name)
	assert.Equal(t, []string{"-fk=true", "-raft-reap-node-timeout=48h"}, s.Voters.ExtraArgs)
	assert.Equal(t, s.Voters.ExtraArgs, s.ReadOnly.ExtraArgs, "the chart runs the top-level extraArgs on read-only pods too")
	assert.Equal(t, "1", s.ReadOnly.Resources.Requests.Cpu().String())
	assert.Equal(t, "100m", s.Voters.Resources.Requests.Cpu().String())
	assert.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}, s.ServiceAccount.Annotations)
	assert.Equal(t, corev1.ServiceTypeNodePort, s.Service.Type)
	assert.Equal(t, "fast", *s.Storage.StorageClassName)
}

// TestReleaseNames follows the chart's fullname rule: the release name when it contains the
// chart's name, else <release>-rqlite, else fullnameOverride; the instance label is the release.
func TestReleaseNames(t *testing.T) {
	for _, tc := range []struct {
		name, release, values, fullname, golden string
	}{
		{"release prod", "prod", "replicaCount: 3\n", "prod-rqlite", "release-prod"},
		{"release containing rqlite", "orders-rqlite", "replicaCount: 3\nreadonly: {replicaCount: 2}\n", "orders-rqlite", "release-contains-rqlite"},
		{"fullnameOverride", "prod", "replicaCount: 3\nfullnameOverride: db\n", "db", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := helmimport.Import(helmimport.Options{Release: tc.release, Namespace: "db", SchemaRef: schemaRef}, []byte(tc.values))
			require.NoError(t, err)
			if tc.golden != "" {
				golden.Assert(t, filepath.Join(goldenDir, tc.golden+".yaml"), res.YAML)
			}
			assert.Equal(t, tc.fullname, res.Spec.Metadata.Name)
			if tc.release == tc.fullname {
				assert.Empty(t, res.Spec.Spec.HelmRelease, "the instance label defaults to the name")
			} else {
				assert.Equal(t, tc.release, res.Spec.Spec.HelmRelease)
			}
			got := render(t, res.YAML)
			sts := got.sts[tc.fullname]
			require.NotNil(t, sts, "StatefulSet %s", tc.fullname)
			assert.Equal(t, map[string]string{
				"app.kubernetes.io/name": "rqlite", "app.kubernetes.io/instance": tc.release, "app.kubernetes.io/component": "voter",
			}, sts.Spec.Selector.MatchLabels)
			assert.Equal(t, tc.fullname+"-headless", sts.Spec.ServiceName)
			pod := tc.fullname + "-0"
			env := map[string]string{"POD_NAME": pod, "POD_NAMESPACE": "db"}
			assert.Equal(t, pod+"."+tc.fullname+"-headless.db.svc.cluster.local:4002", expand(flagValue(sts.Spec.Template.Spec.Containers[0].Args, "-raft-adv-addr"), env))
			if ro := got.sts[tc.fullname+"-readonly"]; ro != nil {
				assert.Equal(t, tc.fullname+"-headless-readonly", ro.Spec.ServiceName)
				assert.Equal(t, tc.release, ro.Spec.Selector.MatchLabels["app.kubernetes.io/instance"])
			}
			assert.Contains(t, got.svcs, tc.fullname)
		})
	}
}

// TestValueFates checks the decisions value by value: what each chart value becomes.
func TestValueFates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		fates  map[string]helmimport.Status
		check  func(t *testing.T, r *helmimport.Result)
	}{
		{
			name:   "unknown keys are reported, not ignored",
			values: "replicaCount: 3\nreplicas: 5\nimage: {tga: x}\nconfig: {tls: {node: {enabeld: true}}}\nreadonly: {replicaCount: 1, image: {tag: x}}\n",
			fates: map[string]helmimport.Status{
				"replicas": helmimport.Unsupported, "image.tga": helmimport.Unsupported,
				"config.tls.node.enabeld": helmimport.Unsupported, "readonly.image": helmimport.Unsupported,
			},
		},
		{
			name:   "managed flags are dropped, others kept",
			values: "extraArgs: [-fk=true, -node-id=x, -raft-non-voter=true, -raft-timeout=1s, -raft-snap=1000, /data]\n",
			fates: map[string]helmimport.Status{
				"extraArgs[1]": helmimport.Dropped, "extraArgs[2]": helmimport.Dropped,
				"extraArgs[3]": helmimport.Unsupported, "extraArgs[5]": helmimport.Dropped, "extraArgs": helmimport.Mapped,
			},
			check: func(t *testing.T, r *helmimport.Result) {
				assert.Equal(t, []string{"-fk=true", "-raft-snap=1000"}, r.Spec.Spec.Voters.ExtraArgs)
			},
		},
		{
			name:   "a custom affinity is kept, the chart's default dropped",
			values: "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app.kubernetes.io/instance: '{{ .Release.Name }}'}}}]}}\nreadonly: {replicaCount: 2, affinity: null}\n",
			fates:  map[string]helmimport.Status{"affinity": helmimport.Mapped, "readonly.affinity": helmimport.Replaced},
			check: func(t *testing.T, r *helmimport.Result) {
				a := r.Spec.Spec.Voters.Scheduling.Affinity
				require.NotNil(t, a)
				assert.Equal(t, "rqlite", a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["app.kubernetes.io/instance"], "the template is evaluated")
				assert.Nil(t, r.Spec.Spec.ReadOnly.Scheduling.Affinity, "readonly.affinity: null overrides the top-level value with nothing")
			},
		},
		{
			name:   "templating only Helm can evaluate",
			values: "topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {v: '{{ .Chart.Version }}'}}}]\n",
			fates:  map[string]helmimport.Status{"topologySpreadConstraints": helmimport.Unsupported},
		},
		{
			name:   "read-only overrides are whole and per pool",
			values: "replicaCount: 3\nnodeSelector: {disk: ssd}\npodLabels: {team: a, app.kubernetes.io/part-of: x}\nreadonly: {replicaCount: 2, nodeSelector: {pool: ro}, extraEnv: [{name: RO, value: '1'}]}\n",
			fates: map[string]helmimport.Status{
				"nodeSelector": helmimport.Mapped, "readonly.nodeSelector": helmimport.Mapped, "readonly.extraEnv": helmimport.Mapped, "podLabels": helmimport.Mapped,
			},
			check: func(t *testing.T, r *helmimport.Result) {
				s := r.Spec.Spec
				assert.Equal(t, map[string]string{"disk": "ssd"}, s.Voters.Scheduling.NodeSelector)
				assert.Equal(t, map[string]string{"pool": "ro"}, s.ReadOnly.Scheduling.NodeSelector)
				assert.Equal(t, map[string]string{"team": "a"}, s.Voters.PodLabels, "app.kubernetes.io/* labels are the function's")
				assert.Equal(t, map[string]string{"team": "a"}, s.ReadOnly.PodLabels, "inherited")
				assert.Empty(t, s.Voters.ExtraEnv)
				assert.Equal(t, "RO", s.ReadOnly.ExtraEnv[0].Name)
			},
		},
		{
			name:   "readonly values without a pool have no effect",
			values: "readonly: {resources: {requests: {cpu: 2}}}\n",
			fates:  map[string]helmimport.Status{"readonly.resources": helmimport.Dropped},
			check: func(t *testing.T, r *helmimport.Result) {
				assert.Nil(t, r.Spec.Spec.ReadOnly)
			},
		},
		{
			name:   "what cannot be adopted in place",
			values: "nameOverride: db\npersistence: {enabled: false, accessModes: [ReadWriteMany]}\nterminationGracePeriodSeconds: 300\npodSecurityContext: {runAsUser: 1000, fsGroup: 1000}\n",
			fates: map[string]helmimport.Status{
				"nameOverride": helmimport.Unsupported, "persistence.enabled": helmimport.Unsupported, "persistence.accessModes": helmimport.Unsupported,
				"terminationGracePeriodSeconds": helmimport.Unsupported, "podSecurityContext": helmimport.Unsupported,
			},
			check: func(t *testing.T, r *helmimport.Result) {
				assert.Equal(t, "rqlite-db", r.Spec.Metadata.Name, "nameOverride takes part in the fullname")
			},
		},
		{
			name:   "restore needs backups",
			values: "config: {backup: {autoRestore: {enabled: true}}}\n",
			fates:  map[string]helmimport.Status{"config.backup.autoRestore.enabled": helmimport.Unsupported},
			check: func(t *testing.T, r *helmimport.Result) {
				assert.Nil(t, r.Spec.Spec.Backup)
			},
		},
		{
			name:   "backups through workload identity need no Secret",
			values: "config: {backup: {autoBackup: {enabled: true, noCompress: true, vacuum: true}, storage: {bucket: b, endpoint: 'http://minio:9000'}}}\nserviceAccount: {create: true, name: rqlite, annotations: {eks.amazonaws.com/role-arn: arn}}\n",
			fates: map[string]helmimport.Status{
				"config.backup.autoBackup.noCompress": helmimport.Mapped, "config.backup.storage.endpoint": helmimport.Mapped,
				"serviceAccount.create": helmimport.Mapped, "serviceAccount.annotations": helmimport.Mapped,
			},
			check: func(t *testing.T, r *helmimport.Result) {
				b := r.Spec.Spec.Backup
				assert.Nil(t, b.S3.AccessKeyID)
				assert.False(t, *b.Compress)
				assert.True(t, b.Vacuum)
				assert.Equal(t, "http://minio:9000", b.S3.Endpoint, "a scheme is kept")
				assert.Empty(t, r.Report.Actions())
			},
		},
		{
			name:   "inline node certificate and an existing ServiceAccount",
			values: "config: {tls: {node: {enabled: true, cert: C, key: K, verifyServerName: rqlite-headless, insecureSkipVerify: true}}}\nserviceAccount: {name: existing}\n",
			fates: map[string]helmimport.Status{
				"config.tls.node.cert": helmimport.Unsupported, "config.tls.node.key": helmimport.Unsupported,
				"config.tls.node.verifyServerName": helmimport.Mapped, "config.tls.node.insecureSkipVerify": helmimport.Unsupported,
				"serviceAccount.name": helmimport.Unsupported,
			},
			check: func(t *testing.T, r *helmimport.Result) {
				assert.Equal(t, "rqlite-node-tls", r.Spec.Spec.TLS.Node.SecretName)
				e, _ := r.Report.Entry("config.tls.node.cert")
				assert.Contains(t, e.Action, "kubectl -n db create secret generic rqlite-node-tls --type=kubernetes.io/tls")
			},
		},
		{
			name:   "service values the spec cannot pin",
			values: "service: {clusterIP: 10.96.0.10, ipFamilies: [IPv6], port: 8080}\ningress: {enabled: false, hosts: [x]}\n",
			fates: map[string]helmimport.Status{
				"service.clusterIP": helmimport.Unsupported, "service.ipFamilies": helmimport.Unsupported,
				"service.port": helmimport.Unsupported, "ingress": helmimport.Dropped,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := helmimport.Import(helmimport.Options{Namespace: "db"}, []byte(tc.values))
			require.NoError(t, err)
			for path, want := range tc.fates {
				e, ok := res.Report.Entry(path)
				if assert.True(t, ok, "no report entry for %s", path) {
					assert.Equal(t, want, e.Status, "%s: %s", path, e.Reason)
					if want != helmimport.Mapped {
						assert.NotEmpty(t, e.Reason, "%s: every value that does not simply map says why", path)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	_, err := helmimport.Import(helmimport.Options{}, []byte("replicaCount: 3\n"))
	assert.ErrorIs(t, err, helmimport.ErrNoNamespace)
	_, err = helmimport.Import(helmimport.Options{Namespace: "db", Release: "Not_A_Release"}, nil)
	assert.ErrorContains(t, err, "release")
	_, err = helmimport.Import(helmimport.Options{Namespace: "db"}, []byte("- a list\n"))
	assert.ErrorContains(t, err, "values file 1")
	_, err = helmimport.Import(helmimport.Options{Namespace: "db"}, []byte("replicaCount: [\n"))
	assert.Error(t, err)
}

// TestLaterValuesFilesWin merges several values files the way helm -f does.
func TestLaterValuesFilesWin(t *testing.T) {
	res, err := helmimport.Import(helmimport.Options{Namespace: "db"},
		[]byte("replicaCount: 3\nresources: {requests: {cpu: 1}}\nextraArgs: [-fk=true, -raft-snap=10]\n"),
		[]byte("replicaCount: 5\nresources: {limits: {memory: 2Gi}}\nextraArgs: [-fk=false]\n"))
	require.NoError(t, err)
	s := res.Spec.Spec
	assert.Equal(t, int32(5), *s.Voters.Replicas)
	assert.Equal(t, "1", s.Voters.Resources.Requests.Cpu().String(), "maps merge")
	assert.Equal(t, "2Gi", s.Voters.Resources.Limits.Memory().String())
	assert.Equal(t, []string{"-fk=false"}, s.Voters.ExtraArgs, "lists are replaced")
	assert.True(t, slices.ContainsFunc(res.Report.Entries, func(e helmimport.Entry) bool { return e.Path == "replicaCount" && !e.Default }))
}
