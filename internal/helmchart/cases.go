// Package helmchart holds what this project's tests know about the rqlite Helm chart 2.0.0
// (rqlite 9.1.3): the chart's documented defaults, five values cases (1, 3 and 9 voters, 3 voters
// with 3 read-only nodes, and a full-featured one), and for each the objects `helm template`
// renders for release "rqlite" in namespace "db", built here as typed objects from facts we wrote
// down. They carry the fields the tests rely on (names, labels, selectors, serviceName, claim
// templates, container args, ports, Services, PDBs, the pod template's leftovers), not a copy of
// the chart's files or renders, which are not ours to commit.
//
// The tests (import-helm, naming: helm-chart, Helm adoption on a real API server, the kube-score
// and Pod Security negative controls) use these objects and values, so they need nothing beside
// the repository. Whether the facts still match the real chart is a separate check against a
// directory of real `helm template` renders (Check; `make helm-reference`, see the README).
package helmchart

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	// Release and Namespace are the release name and namespace every case is rendered with.
	Release   = "rqlite"
	Namespace = "db"
	// ChartLabel is the chart's helm.sh/chart label; AppVersion its default image tag.
	ChartLabel = "rqlite-2.0.0"
	AppVersion = "9.1.3"
	Image      = "docker.io/rqlite/rqlite:" + AppVersion
)

// ObjectID names one object of a render.
type ObjectID struct{ Kind, Name string }

// Case is one values file and what the chart renders from it.
type Case struct {
	// Name is the case's name in the tests and in testdata/helm (the import goldens).
	Name string
	// RenderFile and ValuesFile are the file names in a reference directory (see Check);
	// ValuesFile is empty for the chart's defaults, which are rendered without a values file.
	RenderFile, ValuesFile string
	// Values is the values file, written here with the same settings as the reference's.
	Values string
	// Chart is what the chart renders from Values: the facts the objects are built from.
	Chart Chart
}

// Chart is the facts of one render that differ between the cases.
type Chart struct {
	Voters, ReadOnly int32
	// StorageClass and Size are the claim templates' class ("" for none) and request;
	// ClaimLabels their labels (persistence.labels).
	StorageClass, Size string
	ClaimLabels        map[string]string
	// ExtraArgs are the flags after the chart's own (extraArgs; the read-only pods run the same).
	ExtraArgs []string
	// ServiceType, Port and AppProtocol are the client Service's; HTTPS follows client TLS.
	ServiceType, ReadOnlyServiceType corev1.ServiceType
	Port                             int32
	AppProtocol                      string
	NodePort, ReadOnlyNodePort       int32
	ServiceAnnotations               map[string]string
	// VoterPDB is the voters' budget: maxUnavailable, or minAvailable when MinAvailable.
	VoterPDB     intstr.IntOrString
	MinAvailable bool
	// ServiceAccount is the pods' ServiceAccount when the chart creates one.
	ServiceAccount            string
	ServiceAccountAnnotations map[string]string
	// TLSVolumes are the node TLS Secret volumes (name -> Secret), mounted at /config/<name>.
	TLSVolumes [][2]string
	// PodDetails says whether the facts cover the container's args, env, probes and lifecycle.
	// For the full-featured case they are not written down (no test reads them).
	PodDetails bool
	// Others are objects the chart renders that no test reads field by field.
	Others []ObjectID
}

// base is the chart's defaults: one voter, no read-only pool.
func base(voters, readOnly int32) Chart {
	return Chart{
		Voters: voters, ReadOnly: readOnly, Size: "10Gi", ExtraArgs: []string{"-fk=true"},
		ServiceType: corev1.ServiceTypeClusterIP, ReadOnlyServiceType: corev1.ServiceTypeClusterIP,
		Port: 80, AppProtocol: "http", PodDetails: true,
		VoterPDB: intstr.FromInt32(voterMaxUnavailable(voters)),
	}
}

// voterMaxUnavailable is the chart's voter budget: (N-1)/2, but at least 1 (so a single voter
// may be evicted, one of the chart's known defects).
func voterMaxUnavailable(voters int32) int32 { return max(1, (voters-1)/2) }

// Cases are the five values cases, in the order the tests run them.
var Cases = []Case{
	{Name: "defaults", RenderFile: "helm-render-default1.yaml", Chart: base(1, 0)},
	{Name: "three-voters", RenderFile: "helm-render-3voters.yaml", ValuesFile: "values-3.yaml",
		Values: "replicaCount: 3\n", Chart: base(3, 0)},
	{Name: "nine-voters", RenderFile: "helm-render-9voters.yaml", ValuesFile: "values-9.yaml",
		Values: "replicaCount: 9\n", Chart: base(9, 0)},
	{Name: "three-voters-readonly", RenderFile: "helm-render-3voters-3readonly.yaml", ValuesFile: "values-3ro3.yaml",
		Values: "replicaCount: 3\nreadonly: {replicaCount: 3}\n", Chart: base(3, 3)},
	{Name: "fullfeatures", RenderFile: "helm-render-fullfeatures.yaml", ValuesFile: "values-full.yaml",
		Values: fullValues, Chart: fullChart()},
}

// Lookup returns the case named name; it panics on a name that is not one, a test's typo.
func Lookup(name string) Case {
	for _, c := range Cases {
		if c.Name == name {
			return c
		}
	}
	panic("helmchart: no case " + name)
}

// fullValues exercises every feature the importer maps or reports: auth, node and client TLS,
// backup and restore, ingress, a ServiceAccount, custom probes, a PDB and 2 read-only nodes.
// The secrets are placeholders the import report must never repeat.
const fullValues = `# Every feature the chart has, with placeholder secrets.
replicaCount: 3
extraArgs: [-fk=true, -raft-reap-node-timeout=48h]
extraEnv: [{name: FOO, value: bar}]
extraFiles: {hello.txt: hi}
serviceAccount:
  create: true
  name: rqlite-sa
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::1:role/x"}
persistence: {storageClassName: fast, size: 50Gi, labels: {tier: db}}
service: {type: NodePort, nodePort: 31004, annotations: {a: b}}
ingress:
  enabled: true
  ingressClassName: nginx
  hosts: [rqlite.example.com]
  tls: [{secretName: rqlite-tls, hosts: [rqlite.example.com]}]
  extraLabels: {x: y}
startupProbe: {httpGet: {path: "/readyz?sync", port: http}}
livenessProbe: {httpGet: {path: "/readyz?noleader", port: http}}
podDisruptionBudget: {minAvailable: 2}
readonly:
  replicaCount: 2
  extraArgs: [-SHOULD-APPEAR-IN-READONLY]
  resources: {requests: {cpu: 1}}
  service: {type: LoadBalancer, nodePort: 31005}
  ingress: {enabled: true, hosts: [ro.example.com], path: /, annotations: {}}
config:
  users: [{username: myapp, password: secret, perms: [execute, query]}]
  tls:
    node: {enabled: true, secretName: node-tls, caSecretName: node-ca, verifyServerName: rqlite.db.svc.cluster.local, mutual: true}
    client: {enabled: true, cert: CERT, key: KEY, ca: CA, mutual: true}
  backup:
    storage: {accessKeyId: AK, secretAccessKey: SK, endpoint: s3.example.com, forcePathStyle: true}
    autoBackup: {enabled: true, interval: 30m, timestamp: true}
    autoRestore: {enabled: true}
`

func fullChart() Chart {
	c := base(3, 2)
	c.StorageClass, c.Size, c.ClaimLabels = "fast", "50Gi", map[string]string{"tier": "db"}
	c.ExtraArgs = []string{"-fk=true", "-raft-reap-node-timeout=48h"}
	c.ServiceType, c.ReadOnlyServiceType = corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer
	c.Port, c.AppProtocol, c.NodePort, c.ReadOnlyNodePort = 443, "https", 31004, 31005
	c.ServiceAnnotations = map[string]string{"a": "b"}
	c.VoterPDB, c.MinAvailable = intstr.FromInt32(2), true
	c.ServiceAccount = "rqlite-sa"
	c.ServiceAccountAnnotations = map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}
	c.TLSVolumes = [][2]string{{"node-tls", "node-tls"}, {"node-tls-ca", "node-ca"}}
	c.PodDetails = false
	c.Others = []ObjectID{{"Ingress", "rqlite"}, {"Ingress", "rqlite-readonly"}}
	return c
}
