package helmchart

import (
	"maps"
	"sort"
	"strings"
)

// Default is one documented default of the chart (its values.yaml), as a leaf path and its value.
// Values are what a YAML file decodes to (numbers are float64); an empty map or list is a leaf.
type Default struct {
	Path  string
	Value any
}

// Defaults are the chart 2.0.0's documented defaults, leaf by leaf, written down here from
// `helm show values rqlite/rqlite --version 2.0.0` (the reference check compares them with it).
// The two `{{ ... }}` strings are templates the chart evaluates: they are its defaults as written.
var Defaults = []Default{
	{"nameOverride", nil},
	{"fullnameOverride", nil},
	{"image.repository", "docker.io/rqlite/rqlite"},
	{"image.tag", nil},
	{"image.pullPolicy", nil},
	{"image.pullSecrets", []any{}},
	{"replicaCount", 1.0},
	{"useStaticPeers", false},
	{"networkPolicy.enabled", true},
	{"resources.requests.cpu", "100m"},
	{"resources.requests.memory", "128Mi"},
	{"updateStrategy.type", "RollingUpdate"},
	{"terminationGracePeriodSeconds", 15.0},
	{"podSecurityContext.runAsUser", 10050.0},
	{"podSecurityContext.runAsGroup", 10050.0},
	{"podSecurityContext.fsGroup", 10050.0},
	{"podSecurityContext.fsGroupChangePolicy", "OnRootMismatch"},
	{"securityContext", map[string]any{}},
	{"serviceAccount.create", false},
	{"serviceAccount.name", ""},
	{"serviceAccount.annotations", map[string]any{}},
	{"persistence.enabled", true},
	{"persistence.labels", map[string]any{}},
	{"persistence.storageClassName", nil},
	{"persistence.size", "10Gi"},
	{"persistence.accessModes", []any{"ReadWriteOnce"}},
	{"nodeSelector", map[string]any{}},
	{"tolerations", []any{}},
	{"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64", "386", "arm", "arm64"}}}}}},
	{"topologySpreadConstraints", []any{}},
	{"podDisruptionBudget", map[string]any{}},
	{"podLabels", map[string]any{}},
	{"podAnnotations", map[string]any{}},
	{"extraArgs", []any{"-fk=true"}},
	{"extraEnv", []any{}},
	{"extraFiles", map[string]any{}},
	{"readinessProbe.periodSeconds", 5.0},
	{"readinessProbe.timeoutSeconds", 2.0},
	{"readinessProbe.initialDelaySeconds", 3.0},
	{"readinessProbe.httpGet.scheme", `{{ .Values.config.tls.client.enabled | ternary "HTTPS" "HTTP" }}`},
	{"readinessProbe.httpGet.path", "/readyz"},
	{"readinessProbe.httpGet.port", "http"},
	{"readinessProbe.httpGet.httpHeaders", []any{map[string]any{"name": "Authorization", "value": `{{ empty .Values.config.users | ternary "" .Release.rqlite.probeBasicAuthHeader }}`}}},
	{"startupProbe", map[string]any{}},
	{"livenessProbe", map[string]any{}},
	{"service.type", "ClusterIP"},
	{"service.ipFamilyPolicy", nil},
	{"service.ipFamilies", []any{}},
	{"service.clusterIP", nil},
	{"service.nodePort", nil},
	{"service.port", nil},
	{"service.annotations", map[string]any{}},
	{"ingress.enabled", false},
	{"ingress.ingressClassName", nil},
	{"ingress.hosts", []any{}},
	{"ingress.path", "/"},
	{"ingress.pathType", "Prefix"},
	{"ingress.annotations", map[string]any{}},
	{"ingress.extraLabels", map[string]any{}},
	{"ingress.tls", []any{}},
	{"readonly.replicaCount", 0.0},
	{"config.tls.node.enabled", false},
	{"config.tls.node.secretName", nil},
	{"config.tls.node.verifyServerName", nil},
	{"config.tls.node.mutual", false},
	{"config.tls.node.insecureSkipVerify", false},
	{"config.tls.node.cert", ""},
	{"config.tls.node.key", ""},
	{"config.tls.node.ca", ""},
	{"config.tls.node.caSecretName", nil},
	{"config.tls.client.enabled", false},
	{"config.tls.client.secretName", nil},
	{"config.tls.client.mutual", false},
	{"config.tls.client.cert", ""},
	{"config.tls.client.key", ""},
	{"config.tls.client.ca", ""},
	{"config.tls.client.caSecretName", nil},
	{"config.users", []any{}},
	{"config.backup.storage.accessKeyId", ""},
	{"config.backup.storage.secretAccessKey", ""},
	{"config.backup.storage.endpoint", nil},
	{"config.backup.storage.bucket", "rqlite-bucket"},
	{"config.backup.storage.region", "us-east-1"},
	{"config.backup.storage.path", "backups/rqlite.sqlite.gz"},
	{"config.backup.autoBackup.enabled", false},
	{"config.backup.autoBackup.interval", "1h"},
	{"config.backup.autoBackup.vacuum", false},
	{"config.backup.autoBackup.noCompress", false},
	{"config.backup.autoBackup.timestamp", false},
	{"config.backup.autoRestore.enabled", false},
	{"config.backup.autoRestore.timeout", "5m"},
	{"config.backup.autoRestore.continueOnFailure", false},
}

// DefaultValues returns Defaults as a nested values tree, a fresh copy on every call.
func DefaultValues() map[string]any {
	out := map[string]any{}
	for _, d := range Defaults {
		keys := strings.Split(d.Path, ".")
		m := out
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = clone(d.Value)
	}
	return out
}

// Flatten turns a values tree into leaf paths, the form Defaults is written in.
func Flatten(values map[string]any) map[string]any {
	out := map[string]any{}
	flatten("", values, out)
	return out
}

func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		out[prefix] = v
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, m[k], out)
	}
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := maps.Clone(x)
		for k, e := range c {
			c[k] = clone(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = clone(e)
		}
		return c
	}
	return v
}
