package helmimport

// The rqlite Helm chart 2.0.0's documented defaults (its values.yaml), as data. A values file is
// merged over them the way Helm does, so the import sees what the chart actually rendered with,
// not only what the user wrote. TestChartDefaultsMatchTheChart keeps this in step with the
// chart's published defaults.

const (
	// ChartName is the chart's .Chart.Name: it decides the fullname and the name label.
	ChartName = "rqlite"
	// ChartVersion is the only chart version whose values this importer knows.
	ChartVersion = "2.0.0"
	// ChartAppVersion is the image tag the chart uses when image.tag is null.
	ChartAppVersion = "9.1.3"
	// DefaultRelease is the release name assumed when none is given.
	DefaultRelease = "rqlite"
)

// chartDefaults returns a fresh copy of the chart's defaults. Numbers are float64 because that is
// what a YAML values file decodes to.
func chartDefaults() map[string]any {
	return map[string]any{
		"nameOverride":     nil,
		"fullnameOverride": nil,
		"image": map[string]any{
			"repository":  "docker.io/rqlite/rqlite",
			"tag":         nil,
			"pullPolicy":  nil,
			"pullSecrets": []any{},
		},
		"replicaCount":   1.0,
		"useStaticPeers": false,
		"networkPolicy":  map[string]any{"enabled": true},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
		},
		"updateStrategy":                map[string]any{"type": "RollingUpdate"},
		"terminationGracePeriodSeconds": 15.0,
		"podSecurityContext": map[string]any{
			"runAsUser":           10050.0,
			"runAsGroup":          10050.0,
			"fsGroup":             10050.0,
			"fsGroupChangePolicy": "OnRootMismatch",
		},
		"securityContext": map[string]any{},
		"serviceAccount": map[string]any{
			"create":      false,
			"name":        "",
			"annotations": map[string]any{},
		},
		"persistence": map[string]any{
			"enabled":          true,
			"labels":           map[string]any{},
			"storageClassName": nil,
			"size":             "10Gi",
			"accessModes":      []any{"ReadWriteOnce"},
		},
		"nodeSelector":              map[string]any{},
		"tolerations":               []any{},
		"affinity":                  defaultAffinity(),
		"topologySpreadConstraints": []any{},
		"podDisruptionBudget":       map[string]any{},
		"podLabels":                 map[string]any{},
		"podAnnotations":            map[string]any{},
		"extraArgs":                 []any{"-fk=true"},
		"extraEnv":                  []any{},
		"extraFiles":                map[string]any{},
		"readinessProbe": map[string]any{
			"periodSeconds":       5.0,
			"timeoutSeconds":      2.0,
			"initialDelaySeconds": 3.0,
			"httpGet": map[string]any{
				"scheme": `{{ .Values.config.tls.client.enabled | ternary "HTTPS" "HTTP" }}`,
				"path":   "/readyz",
				"port":   "http",
				"httpHeaders": []any{map[string]any{
					"name":  "Authorization",
					"value": `{{ empty .Values.config.users | ternary "" .Release.rqlite.probeBasicAuthHeader }}`,
				}},
			},
		},
		"startupProbe":  map[string]any{},
		"livenessProbe": map[string]any{},
		"service": map[string]any{
			"type":           "ClusterIP",
			"ipFamilyPolicy": nil,
			"ipFamilies":     []any{},
			"clusterIP":      nil,
			"nodePort":       nil,
			"port":           nil,
			"annotations":    map[string]any{},
		},
		"ingress": map[string]any{
			"enabled":          false,
			"ingressClassName": nil,
			"hosts":            []any{},
			"path":             "/",
			"pathType":         "Prefix",
			"annotations":      map[string]any{},
			"extraLabels":      map[string]any{},
			"tls":              []any{},
		},
		"readonly": map[string]any{"replicaCount": 0.0},
		"config": map[string]any{
			"tls": map[string]any{
				"node": map[string]any{
					"enabled":            false,
					"secretName":         nil,
					"verifyServerName":   nil,
					"mutual":             false,
					"insecureSkipVerify": false,
					"cert":               "",
					"key":                "",
					"ca":                 "",
					"caSecretName":       nil,
				},
				"client": map[string]any{
					"enabled":      false,
					"secretName":   nil,
					"mutual":       false,
					"cert":         "",
					"key":          "",
					"ca":           "",
					"caSecretName": nil,
				},
			},
			"users": []any{},
			"backup": map[string]any{
				"storage": map[string]any{
					"accessKeyId":     "",
					"secretAccessKey": "",
					"endpoint":        nil,
					"bucket":          "rqlite-bucket",
					"region":          "us-east-1",
					"path":            "backups/rqlite.sqlite.gz",
				},
				"autoBackup": map[string]any{
					"enabled":    false,
					"interval":   "1h",
					"vacuum":     false,
					"noCompress": false,
					"timestamp":  false,
				},
				"autoRestore": map[string]any{
					"enabled":           false,
					"timeout":           "5m",
					"continueOnFailure": false,
				},
			},
		},
	}
}

// defaultAffinity keeps pods on the architectures the official image is built for. It says
// nothing about this cluster, so an import drops it rather than carrying it into the spec.
func defaultAffinity() map[string]any {
	return map[string]any{
		"nodeAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
				"nodeSelectorTerms": []any{map[string]any{
					"matchExpressions": []any{map[string]any{
						"key":      "kubernetes.io/arch",
						"operator": "In",
						"values":   []any{"amd64", "386", "arm", "arm64"},
					}},
				}},
			},
		},
	}
}

// undocumentedKeys are values the chart reads although its defaults do not list them (the
// reference render shows config.backup.storage.forcePathStyle in backup.json), so they are not
// reported as unknown.
var undocumentedKeys = map[string]bool{
	"config.backup.storage.forcePathStyle": true,
}

// opaqueKeys hold Kubernetes objects or free-form maps: their inside is not the chart's schema,
// so unknown-key detection stops at them.
var opaqueKeys = map[string]bool{
	"resources": true, "updateStrategy": true, "podSecurityContext": true, "securityContext": true,
	"affinity": true, "readinessProbe": true, "startupProbe": true, "livenessProbe": true,
	"nodeSelector": true, "tolerations": true, "topologySpreadConstraints": true,
	"podDisruptionBudget": true, "podLabels": true, "podAnnotations": true, "extraArgs": true,
	"extraEnv": true, "extraFiles": true,
}

// readonlyKeys are the top-level keys the chart lets readonly.* override for the read-only pool
// (its documentation: "Any top-level key above that's documented as applying to read-only nodes
// can be defined/overridden"), plus the two it defines separately for that pool.
var readonlyKeys = []string{
	"resources", "updateStrategy", "terminationGracePeriodSeconds", "podSecurityContext",
	"securityContext", "persistence", "nodeSelector", "tolerations", "affinity",
	"topologySpreadConstraints", "podLabels", "podAnnotations", "extraArgs", "extraEnv",
	"extraFiles", "readinessProbe", "startupProbe", "livenessProbe", "service",
	"podDisruptionBudget", "ingress",
}

// ChartDefaults returns the chart's defaults this importer merges values over.
func ChartDefaults() map[string]any { return chartDefaults() }
