package v1alpha1_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\n"

// check decodes, defaults and validates like the pipeline does.
func check(doc string) v1alpha1.Problems {
	s, ps := v1alpha1.Decode([]byte(doc))
	if s == nil {
		return ps
	}
	return append(ps, v1alpha1.Validate(v1alpha1.Default(s))...)
}

// BadSpecs is the validation table: every bad input names its field path and says what to write.
// It is exported through testdata-free Go so other tests (the KRM glue, the schema) can reuse it.
var badSpecs = []struct {
	name, doc, path, fix string
}{
	{"unknown top-level spec field", header + "spec:\n  voter:\n    replicas: 3\n", "spec.voter", `did you mean "voters"?`},
	{"unknown nested field with suggestion", header + "spec:\n  storage:\n    sise: 1Gi\n", "spec.storage.sise", `did you mean "size"?`},
	{"unknown metadata field", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namepsace: db\n", "metadata.namepsace", `did you mean "namespace"?`},
	{"unknown field deep in a Kubernetes type", header + "spec:\n  voters:\n    scheduling:\n      tolerations:\n      - key: a\n        efect: NoSchedule\n", "spec.voters.scheduling.tolerations[0].efect", `did you mean "effect"?`},
	{"wrong type", header + "spec:\n  voters:\n    replicas: three\n", "spec.voters.replicas", "write the number without quotes"},
	{"fractional count", header + "spec:\n  voters:\n    replicas: 2.5\n", "spec.voters.replicas", ""},
	{"list where object expected", header + "spec:\n  storage: [10Gi]\n", "spec.storage", ""},
	{"string where bool expected", header + "spec:\n  recovery:\n    staticPeers: \"yes\"\n", "spec.recovery.staticPeers", "write true or false without quotes"},
	{"zero voters", header + "spec:\n  voters:\n    replicas: 0\n", "spec.voters.replicas", "write 1 or more (3 or 5 for production)"},
	{"negative voters", header + "spec:\n  voters:\n    replicas: -3\n", "spec.voters.replicas", "write 1 or more (3 or 5 for production)"},
	{"absurd voters", header + "spec:\n  voters:\n    replicas: 2147483647\n", "spec.voters.replicas", "write at most 99; add read capacity with spec.readOnly"},
	{"read-only without voters", header + "spec:\n  voters:\n    replicas: 0\n  readOnly:\n    replicas: 3\n", "spec.voters.replicas", "write 1 or more (3 or 5 for production)"},
	{"negative read-only", header + "spec:\n  readOnly:\n    replicas: -1\n", "spec.readOnly.replicas", "write 0 or more"},
	{"name not DNS", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: My_DB\n", "metadata.name", "write lower-case letters, digits and '-', starting with a letter, e.g. rqlite"},
	{"name starts with digit", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: 1db\n", "metadata.name", "write lower-case letters, digits and '-', starting with a letter, e.g. rqlite"},
	{"name too long", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: " + strings.Repeat("a", 41) + "\n", "metadata.name", "write a shorter name"},
	{"missing name", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata: {}\n", "metadata.name", "write e.g. name: rqlite"},
	{"bad namespace", "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: Prod\n", "metadata.namespace", "write lower-case letters, digits and '-'"},
	{"wrong apiVersion", "apiVersion: rqlite.io/v1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n", "apiVersion", "write apiVersion: rqlite.io/v1alpha1"},
	{"wrong kind", "apiVersion: rqlite.io/v1alpha1\nkind: Rqlite\nmetadata:\n  name: rqlite\n", "kind", "write kind: RqliteSpec"},
	{"bad storage quantity", header + "spec:\n  storage:\n    size: ten\n", "spec.storage.size", `write a quantity such as "10Gi", "500m" or "1"`},
	{"zero storage", header + "spec:\n  storage:\n    size: \"0\"\n", "spec.storage.size", `write a positive size such as "10Gi"`},
	{"bad resource quantity", header + "spec:\n  voters:\n    resources:\n      requests:\n        memory: lots\n", "spec.voters.resources.requests.memory", `write a quantity such as "10Gi", "500m" or "1"`},
	{"request above limit", header + "spec:\n  voters:\n    resources:\n      requests:\n        cpu: \"2\"\n      limits:\n        cpu: \"1\"\n", "spec.voters.resources.requests.cpu", "write at most 1, or raise resources.limits.cpu"},
	{"HPA min above max", header + "spec:\n  readOnly:\n    autoscaling:\n      minReplicas: 5\n      maxReplicas: 2\n", "spec.readOnly.autoscaling.maxReplicas", "write 5 or more"},
	{"HPA min zero", header + "spec:\n  readOnly:\n    autoscaling:\n      minReplicas: 0\n      maxReplicas: 2\n", "spec.readOnly.autoscaling.minReplicas", "write 1 or more"},
	{"HPA target not a percentage", header + "spec:\n  readOnly:\n    autoscaling:\n      minReplicas: 1\n      maxReplicas: 2\n      targetCPUUtilizationPercentage: 150\n", "spec.readOnly.autoscaling.targetCPUUtilizationPercentage", "write a value from 1 to 100, e.g. 70"},
	{"replicas and autoscaling", header + "spec:\n  readOnly:\n    replicas: 2\n    autoscaling:\n      minReplicas: 1\n      maxReplicas: 3\n", "spec.readOnly", "remove replicas to let the HorizontalPodAutoscaler size the pool, or remove autoscaling"},
	{"managed flag", header + "spec:\n  voters:\n    extraArgs: [\"-node-id=foo\"]\n", "spec.voters.extraArgs[0]", "remove it"},
	{"non-voter flag on voters", header + "spec:\n  voters:\n    extraArgs: [\"-raft-non-voter=true\"]\n", "spec.voters.extraArgs[0]", "remove it; put non-voting nodes in spec.readOnly"},
	{"flag not valid in v10", header + "spec:\n  readOnly:\n    extraArgs: [\"-raft-timeout=2s\"]\n", "spec.readOnly.extraArgs[0]", "remove it"},
	{"arg not a flag", header + "spec:\n  voters:\n    extraArgs: [\"fk\"]\n", "spec.voters.extraArgs[0]", "write flags as -name=value (or -name followed by its value as the next item)"},
	{"unknown flag", header + "spec:\n  voters:\n    extraArgs: [\"-raft-snapp=1\"]\n", "spec.voters.extraArgs[0]", "did you mean -raft-snap?"},
	{"managed TLS flag", header + "spec:\n  readOnly:\n    extraArgs: [\"-http-cert=/x\"]\n", "spec.readOnly.extraArgs[0]", "remove it; set spec.tls.client"},
	{"newline in an arg", header + "spec:\n  voters:\n    extraArgs: [\"-raft-log-level=INFO\\n-auth=/x\"]\n", "spec.voters.extraArgs[0]", "write each flag and value on one line, without control characters"},
	{"flag missing its value", header + "spec:\n  voters:\n    extraArgs: [\"-raft-snap\"]\n", "spec.voters.extraArgs[0]", "write -raft-snap=VALUE"},
	{"floating image", header + "spec:\n  image: rqlite/rqlite:latest\n", "spec.image", "pin a release, e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"untagged image", header + "spec:\n  image: rqlite/rqlite\n", "spec.image", "pin a release, e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"bad image", header + "spec:\n  image: \"rqlite/RQLITE:9\"\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image with an uppercase path", header + "spec:\n  image: reg.example.com:5000/Rqlite/rqlite:9\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image digest too short", header + "spec:\n  image: rqlite/rqlite@sha256:abc123\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image digest in uppercase hex", header + "spec:\n  image: rqlite/rqlite@sha256:" + strings.Repeat("AB", 32) + "\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image name too long", header + "spec:\n  image: reg.io/" + strings.Repeat("a", 256) + ":1\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image tag too long", header + "spec:\n  image: rqlite/rqlite:" + strings.Repeat("9", 129) + "\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image registry port without tag", header + "spec:\n  image: localhost:5000/rqlite/rqlite\n", "spec.image", "pin a release, e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"image ID instead of a name", header + "spec:\n  image: " + strings.Repeat("ab", 32) + "\n", "spec.image", "write e.g. docker.io/rqlite/rqlite:9.1.3"},
	{"bad pull policy", header + "spec:\n  imagePullPolicy: Sometimes\n", "spec.imagePullPolicy", "write Always, IfNotPresent or Never"},
	{"bad service type", header + "spec:\n  service:\n    type: ExternalName\n", "spec.service.type", "write ClusterIP, NodePort or LoadBalancer"},
	{"source ranges without LB", header + "spec:\n  service:\n    loadBalancerSourceRanges: [10.0.0.0/8]\n", "spec.service.loadBalancerSourceRanges", "set spec.service.type: LoadBalancer or remove the ranges"},
	{"bad retention", header + "spec:\n  storage:\n    retentionPolicy:\n      whenScaled: Keep\n", "spec.storage.retentionPolicy.whenScaled", "write Retain or Delete"},
	{"bad cluster domain", header + "spec:\n  clusterDomain: -bad-\n", "spec.clusterDomain", "write the cluster's DNS domain, e.g. cluster.local"},
	{"reserved volume name", header + "spec:\n  voters:\n    extraVolumes:\n    - name: data\n      emptyDir: {}\n", "spec.voters.extraVolumes[0].name", "choose another name"},
	{"mount of unknown volume", header + "spec:\n  voters:\n    extraVolumeMounts:\n    - name: nope\n      mountPath: /x\n", "spec.voters.extraVolumeMounts[0].name", "add it to extraVolumes or fix the name"},
	{"mount over data dir", header + "spec:\n  voters:\n    extraVolumes:\n    - name: x\n      emptyDir: {}\n    extraVolumeMounts:\n    - name: x\n      mountPath: /rqlite/file/data\n", "spec.voters.extraVolumeMounts[0].mountPath", "mount somewhere else, e.g. /extra/<name>"},
	{"reserved env", header + "spec:\n  voters:\n    extraEnv:\n    - name: POD_NAME\n      value: x\n", "spec.voters.extraEnv[0].name", "choose another name"},
	{"selector label", header + "spec:\n  voters:\n    podLabels:\n      app.kubernetes.io/component: db\n", "spec.voters.podLabels.app.kubernetes.io/component", "use another label key"},
	{"probe zero period", header + "spec:\n  voters:\n    probes:\n      readiness:\n        periodSeconds: 0\n", "spec.voters.probes.readiness.periodSeconds", "write 1 or more"},
	{"bad anti-affinity mode", header + "spec:\n  voters:\n    scheduling:\n      antiAffinity: sometimes\n", "spec.voters.scheduling.antiAffinity", "write preferred, required or none"},
	{"bad CIDR", header + "spec:\n  networkPolicy:\n    clientFrom:\n    - ipBlock:\n        cidr: 10.0.0.0/33\n", "spec.networkPolicy.clientFrom[0].ipBlock.cidr", "write e.g. 10.0.0.0/8"},
	{"empty peer", header + "spec:\n  networkPolicy:\n    clientFrom:\n    - {}\n", "spec.networkPolicy.clientFrom[0]", "set podSelector, namespaceSelector or ipBlock"},
	{"privileged sidecar", header + "spec:\n  voters:\n    extraContainers:\n    - name: x\n      image: busybox:1.36\n      securityContext:\n        privileged: true\n", "spec.voters.extraContainers[0].securityContext.privileged", "remove it: the pods meet the restricted Pod Security Standard"},
	{"init container adds a capability", header + "spec:\n  readOnly:\n    extraInitContainers:\n    - name: x\n      image: busybox:1.36\n      securityContext:\n        capabilities:\n          add: [NET_ADMIN]\n", "spec.readOnly.extraInitContainers[0].securityContext.capabilities.add[0]", "only NET_BIND_SERVICE may be added"},
	{"sidecar without image", header + "spec:\n  voters:\n    extraContainers:\n    - name: x\n", "spec.voters.extraContainers[0].image", "name the container's image"},
	{"sidecar named like rqlite's", header + "spec:\n  voters:\n    extraContainers:\n    - name: rqlite\n      image: busybox:1.36\n", "spec.voters.extraContainers[0].name", "choose another name"},
	{"not an object", "- a\n- b\n", "", "start the document with apiVersion: rqlite.io/v1alpha1"},
	{"not YAML", "a: [b\n", "", ""},
}

func TestValidationTable(t *testing.T) {
	for _, tc := range badSpecs {
		t.Run(tc.name, func(t *testing.T) {
			ps := check(tc.doc)
			require.True(t, ps.HasErrors(), "expected an error, got %v", ps)
			var found bool
			for _, p := range ps {
				if p.Path == tc.path && !p.Warning {
					found = true
					if tc.fix != "" {
						assert.Equal(t, tc.fix, p.Fix, "fix for %s", p.Path)
					}
				}
			}
			assert.True(t, found, "no error at %q; got %v", tc.path, ps)
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	ps := check(header + "spec:\n  voters:\n    replicas: 0\n  storage:\n    size: \"0\"\n  imagePullPolicy: Sometimes\n")
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	assert.ElementsMatch(t, []string{"spec.voters.replicas", "spec.storage.size", "spec.imagePullPolicy"}, paths)

	ps = check(header + "spec:\n  voter: 1\n  storag: {}\n  voters:\n    replicas: 0\n")
	require.Len(t, ps, 3, "unknown fields are all reported, not just the first, and validation still runs: %v", ps)
}

func TestWarningsDoNotBlock(t *testing.T) {
	for _, tc := range []struct{ doc, path string }{
		{header + "spec:\n  voters:\n    replicas: 4\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 2\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 1\n", "spec.voters.replicas"},
		{header + "spec:\n  voters:\n    replicas: 11\n", "spec.voters.replicas"},
		{header[:len(header)-len("  namespace: db\n")] + "spec:\n  voters:\n    replicas: 3\n", "metadata.namespace"},
	} {
		ps := check(tc.doc)
		require.False(t, ps.HasErrors(), "%v", ps)
		require.Len(t, ps, 1)
		assert.True(t, ps[0].Warning)
		assert.Equal(t, tc.path, ps[0].Path)
	}
	assert.Empty(t, check(header+"spec:\n  voters:\n    replicas: 3\n"))
	assert.Empty(t, check(header), "a spec with only a name and namespace is complete")
	assert.Empty(t, check(strings.Replace(header, "  namespace: db\n", "", 1)+"spec:\n  shrink:\n    enabled: false\n"),
		"without the shrink Job there is no RoleBinding that needs the namespace")
}

func TestDefaultsAreCareful(t *testing.T) {
	s, ps := v1alpha1.Decode([]byte(header))
	require.Empty(t, ps)
	d := v1alpha1.Default(s)
	assert.Equal(t, int32(3), *d.Spec.Voters.Replicas)
	assert.Equal(t, v1alpha1.DefaultImage, d.Spec.Image)
	assert.Equal(t, "10Gi", d.Spec.Storage.Size.String())
	assert.Equal(t, "Retain", d.Spec.Storage.RetentionPolicy.WhenScaled)
	assert.Nil(t, d.Spec.ReadOnly)
	assert.True(t, *d.Spec.NetworkPolicy.Enabled)
	// Default never mutates its input.
	assert.Nil(t, s.Spec.Voters.Replicas)

	// A user memory limit below the default request lowers the request instead of producing an
	// invalid pair; a user request above the default limit raises the limit.
	s, ps = v1alpha1.Decode([]byte(header + "spec:\n  voters:\n    resources:\n      limits:\n        memory: 128Mi\n      requests:\n        ephemeral-storage: 2Gi\n"))
	require.Empty(t, ps)
	d = v1alpha1.Default(s)
	r := d.Spec.Voters.Resources
	assert.Equal(t, "128Mi", r.Requests.Memory().String())
	assert.Equal(t, "2Gi", r.Limits.StorageEphemeral().String())
	assert.False(t, v1alpha1.Validate(d).HasErrors(), "%v", v1alpha1.Validate(d))
}

// Image references that pin a release are accepted in every form registries use: a digest (with
// or without a tag), a registry with a port, an IPv6 registry, a tag with capitals.
func TestPinnedImageReferences(t *testing.T) {
	sha := "sha256:" + strings.Repeat("0f", 32)
	for _, image := range []string{
		"rqlite/rqlite@" + sha, "rqlite/rqlite:latest@" + sha, "reg.example.com:5000/team/rqlite:9.1.3",
		"[::1]:5000/rqlite:9", "localhost/rqlite:V9_RC-1", "ghcr.io/org/sub/rqlite:9.1.3@" + sha,
	} {
		for _, p := range check(header + "spec:\n  image: \"" + image + "\"\n") {
			if p.Path == "spec.image" {
				t.Errorf("%s: %v", image, p)
			}
		}
	}
}
