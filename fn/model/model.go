// Package model derives, in one place, every name, label, port, address and flag of a cluster from
// a defaulted and validated spec. Renderers only read from it, so two objects can never disagree
// about a Service name or a selector.
package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Ports and paths of rqlited inside a pod. They are fixed, not configurable: nothing outside the
// pod depends on them except through the Services, and fixing them keeps extraArgs from
// silently breaking the probes.
const (
	HTTPPort     = 4001
	RaftPort     = 4002
	HTTPPortName = "http"
	RaftPortName = "raft"

	ConfigVolume    = "config"
	TmpVolume       = "tmp"
	NodeTLSVolume   = "node-tls"
	ClientTLSVolume = "client-tls"
	AuthVolume      = "auth"
	UsersFile       = "users.json"
	GCSVolume       = "gcs-credentials"
	GCSFile         = "credentials.json"

	ContainerName     = "rqlite"
	PeersInitName     = "install-peers"
	RqlitedBinary     = "/bin/rqlited"
	ManagedBy         = "rqlite-krm"
	AppName           = "rqlite"
	ComponentVoter    = "voter"
	ComponentReadOnly = "readonly"
	ComponentShrink   = "shrink"

	// RunAsUser matches the Helm chart's uid so volumes created by the chart stay readable after a
	// migration, and is outside the range of any system account.
	RunAsUser = 10050

	// ConfigMap keys. They are the only channel through which counts and switches reach the pods,
	// so changing them never changes a pod template.
	KeyBootstrapExpect = "bootstrap-expect"
	KeyVoters          = "voters"
	KeyReadOnly        = "readonly-replicas"
	KeyStaticPeers     = "static-peers"
	KeyPeersJSON       = "peers.json"
	KeyBackup          = "backup.json"
	KeyRestore         = "restore.json"

	EnvPodName         = "POD_NAME"
	EnvPodNamespace    = "POD_NAMESPACE"
	EnvBootstrapExpect = "RQLITE_BOOTSTRAP_EXPECT"
	EnvStaticPeers     = "RQLITE_STATIC_PEERS"
	EnvS3AccessKey     = "RQLITE_S3_ACCESS_KEY_ID"
	EnvS3SecretKey     = "RQLITE_S3_SECRET_ACCESS_KEY"
	// EnvPassword carries an rqlite password into the shrink Job and the metrics sidecar, always
	// from a Secret.
	EnvPassword = "RQLITE_PASSWORD"

	// SelfRemovalSeconds is how long a read-only node stopping with -raft-cluster-remove-shutdown
	// keeps trying to remove itself when no leader answers before it gives up (≈ 26 s, rqlited
	// v8.43.4): its pod's grace period must cover it and the preStop sleep.
	SelfRemovalSeconds = 26

	// Annotation placed on every generated object: the spec that owns it, so a later run of the
	// function replaces exactly what it generated before (kpt upsert) and nothing else.
	AnnotationOwner = "rqlite.io/generated-from"
)

// Cluster is the derived view of one spec.
type Cluster struct {
	Spec *v1alpha1.RqliteSpec
	Name string
	// Instance is the app.kubernetes.io/instance label: the cluster name, or an adopted Helm
	// release's name.
	Instance  string
	Namespace string
	Voters    Pool
	ReadOnly  *Pool
	Layout    Layout
}

// Layout is where a pod keeps its data, configuration and secrets, and how it is reached. The
// default keeps everything under /rqlite; the helm-chart layout is the chart's, so a cluster the
// chart created keeps its volumes and data directory when adopted.
type Layout struct {
	Claim       string // volumeClaimTemplate name; PVCs are <claim>-<pod>
	DataMount   string // where the PVC is mounted
	DataDir     string // rqlited's data directory (its last argument)
	ConfigMount string // the ConfigMap's files (peers.json, backup.json, restore.json)
	SecretsRoot string // TLS, users and GCS credentials are mounted below it
	ServicePort int32  // the client Services' port
	// FQDNRaft advertises fully qualified Raft addresses, as the chart's nodes do.
	FQDNRaft bool
	// UnlabelledClaims leaves the volumeClaimTemplates without labels, as the chart renders them:
	// the field is immutable, so an adopted StatefulSet must keep the chart's exactly.
	UnlabelledClaims bool
	// NumericTargetPorts points Services at the container ports by number. An adopted cluster's
	// pods name their ports differently (the guide's container port is "rqlite"), and during the
	// rolling update a Service targeting a port name would leave out every pod not yet replaced.
	NumericTargetPorts bool
}

// Mount paths of the optional features' Secrets.
func (l Layout) NodeTLSMount() string   { return l.SecretsRoot + "/tls/node" }
func (l Layout) ClientTLSMount() string { return l.SecretsRoot + "/tls/client" }
func (l Layout) AuthMount() string      { return l.SecretsRoot + "/auth" }
func (l Layout) GCSMount() string       { return l.SecretsRoot + "/gcs" }

// DefaultLayout keeps data on the PVC in a subdirectory (a fresh filesystem's lost+found stays out
// of rqlite's way) and everything else beside it under /rqlite.
var DefaultLayout = Layout{
	Claim: "data", DataMount: "/rqlite/file", DataDir: "/rqlite/file/data",
	ConfigMount: "/rqlite/config", SecretsRoot: "/rqlite", ServicePort: HTTPPort,
}

// HelmChartLayout is the rqlite Helm chart's (2.x): PVC "storage" mounted at /rqlite and used as
// the data directory, client Services on port 80, fully qualified Raft addresses.
var HelmChartLayout = Layout{
	Claim: "storage", DataMount: "/rqlite", DataDir: "/rqlite",
	ConfigMount: "/config/peers", SecretsRoot: "/config", ServicePort: 80, FQDNRaft: true,
	UnlabelledClaims: true,
}

// KubernetesConfigurationLayout is what the image's entrypoint does under the manifests of rqlite's
// Kubernetes guide: PVC "rqlite-file" mounted at /rqlite/file with the data in
// /rqlite/file/data, client Services on 4001, and the advertised addresses of `hostname -f`,
// which in a StatefulSet pod is the fully qualified name under the governing Service.
var KubernetesConfigurationLayout = Layout{
	Claim: "rqlite-file", DataMount: "/rqlite/file", DataDir: "/rqlite/file/data",
	ConfigMount: "/rqlite/config", SecretsRoot: "/rqlite", ServicePort: HTTPPort, FQDNRaft: true,
	UnlabelledClaims: true, NumericTargetPorts: true,
}

// Guide labels and names: the guide's StatefulSet selects its pods by app=<name> alone, and that
// selector is immutable.
const (
	GuideAppLabel       = v1alpha1.GuideAppLabel
	GuideHeadlessSuffix = "-svc-internal"
	GuideClientSuffix   = "-svc"
)

// Pool is one StatefulSet's worth of nodes.
type Pool struct {
	Component   string
	StatefulSet string
	// Headless is the governing Service of the StatefulSet: pod DNS names live under it.
	Headless string
	// Client is the Service that load-balances over ready pods of this pool.
	Client   string
	PDB      string
	Replicas *int32 // nil when an HPA owns the count
	Spec     *v1alpha1.Pool
	ReadOnly bool
}

// New derives the model. The spec must already be defaulted and valid.
func New(s *v1alpha1.RqliteSpec) *Cluster {
	name := s.Metadata.Name
	c := &Cluster{Spec: s, Name: name, Instance: name, Namespace: s.Metadata.Namespace, Layout: DefaultLayout}
	if s.Spec.HelmRelease != "" {
		c.Instance = s.Spec.HelmRelease
	}
	roHeadless := name + "-readonly-headless"
	headless, client := name+"-headless", name
	switch s.Spec.Naming {
	case v1alpha1.NamingHelmChart:
		c.Layout = HelmChartLayout
		roHeadless = name + "-headless-readonly"
	case v1alpha1.NamingKubernetesConfiguration:
		c.Layout = KubernetesConfigurationLayout
		headless, client = name+GuideHeadlessSuffix, name+GuideClientSuffix
	}
	c.Voters = Pool{
		Component:   ComponentVoter,
		StatefulSet: name,
		Headless:    headless,
		Client:      client,
		PDB:         name,
		Replicas:    s.Spec.Voters.Replicas,
		Spec:        &s.Spec.Voters.Pool,
	}
	if ro := s.Spec.ReadOnly; ro != nil {
		p := Pool{
			Component:   ComponentReadOnly,
			StatefulSet: name + "-readonly",
			Headless:    roHeadless,
			Client:      name + "-readonly",
			PDB:         name + "-readonly",
			Spec:        &ro.Pool,
			ReadOnly:    true,
		}
		if ro.Autoscaling == nil {
			p.Replicas = ro.Replicas
		}
		c.ReadOnly = &p
	}
	return c
}

// Pools lists the pools in render order.
func (c *Cluster) Pools() []*Pool {
	ps := []*Pool{&c.Voters}
	if c.ReadOnly != nil {
		ps = append(ps, c.ReadOnly)
	}
	return ps
}

func (c *Cluster) ConfigMap() string         { return c.Name + "-config" }
func (c *Cluster) ServiceAccount() string    { return c.Name }
func (c *Cluster) NetworkPolicy() string     { return c.Name }
func (c *Cluster) HPA() string               { return c.Name + "-readonly" }
func (c *Cluster) ShrinkRBAC() string        { return c.Name + "-shrink" }
func (c *Cluster) ShrinkJob(to int32) string { return fmt.Sprintf("%s-shrink-to-%d", c.Name, to) }

// HasShrinkJob reports whether the shrink Job (and its RBAC and NetworkPolicy) is rendered: it is
// left out when disabled and during a recovery, when peers.json sets the membership and a Job that
// needs a leader would only fail (blocking an Argo CD sync as a PreSync hook).
func (c *Cluster) HasShrinkJob() bool {
	return *c.Spec.Spec.Shrink.Enabled && !c.Spec.Spec.Recovery.StaticPeers
}

// VoterCount is the desired number of voters.
func (c *Cluster) VoterCount() int32 { return *c.Voters.Replicas }

// Version is the image tag, used for the app.kubernetes.io/version label.
func (c *Cluster) Version() string { return imageTag(c.Spec.Spec.Image) }

// Labels are the labels of every object of a component.
func (c *Cluster) Labels(component string) map[string]string {
	l := map[string]string{}
	for k, v := range c.Spec.Metadata.Labels {
		l[k] = v
	}
	for k, v := range c.standardSelector(component) {
		l[k] = v
	}
	for k, v := range c.Selector(component) {
		l[k] = v
	}
	l[v1alpha1.LabelManagedBy] = ManagedBy
	if v := c.Version(); v != "" {
		l[v1alpha1.LabelVersion] = v
	}
	return l
}

// Selector selects the pods of a component. It never contains values that change over the
// cluster's life (version, counts): StatefulSet selectors are immutable. The voters of a cluster
// adopted from the guide's manifests keep the guide's selector, app=<name>, so the StatefulSet
// is updated in place; their pods carry the standard labels as well.
func (c *Cluster) Selector(component string) map[string]string {
	if component == ComponentVoter && c.Spec.Spec.Naming == v1alpha1.NamingKubernetesConfiguration {
		return map[string]string{GuideAppLabel: c.Name}
	}
	return c.standardSelector(component)
}

// AdoptedPods selects, besides the cluster's pods, the pods of the adopted cluster that have not
// been replaced yet (nil when there are none to expect): network policies must let both talk Raft
// while the rolling update runs.
func (c *Cluster) AdoptedPods() map[string]string {
	if c.Spec.Spec.Naming == v1alpha1.NamingKubernetesConfiguration {
		return map[string]string{GuideAppLabel: c.Name}
	}
	return nil
}

func (c *Cluster) standardSelector(component string) map[string]string {
	s := map[string]string{
		v1alpha1.LabelName:     AppName,
		v1alpha1.LabelInstance: c.Instance,
	}
	if component != "" {
		s[v1alpha1.LabelComponent] = component
	}
	return s
}

// PodName is the name of the pod with ordinal i in a pool; it is also the rqlite node id.
func (p *Pool) PodName(i int) string { return PodName(p.StatefulSet, i) }

// PodName is the name of the pod with ordinal i of a StatefulSet, as the StatefulSet controller
// names it.
func PodName(statefulSet string, i int) string { return fmt.Sprintf("%s-%d", statefulSet, i) }

// RaftAddress is the address a node of a pool advertises for Raft. By default it is relative to
// the namespace (`<pod>.<headless>`), resolved through the pod's DNS search path, so the same
// address is right in any namespace and cluster domain, and peers.json can be written without
// knowing either. The helm-chart layout keeps the chart's fully qualified addresses, so adopted
// nodes advertise exactly what their Raft configuration already records.
//
// It is the advertised argument as the kubelet expands it in that pod, so the address written
// into peers.json and the one the node advertises cannot differ.
func (c *Cluster) RaftAddress(p *Pool, pod string) string {
	return ExpandPodArg(c.RaftAdvertiseArg(p), pod, c.Namespace)
}

// ExpandPodArg is what the kubelet makes of a container argument in the pod named pod of a
// namespace: the $(VAR) references to the downward-API variables the model writes into args
// ($(POD_NAME), $(POD_NAMESPACE)) replaced by their values. Checks of a rendered stream use it to
// learn what a node really advertises, whatever the layout that wrote the argument.
//
// ReplaceAll rather than a strings.Replacer: this runs once per pod of every render, and a
// Replacer built per call cost a 99-voter render three times its allocation budget.
func ExpandPodArg(arg, pod, namespace string) string {
	arg = strings.ReplaceAll(arg, "$("+EnvPodName+")", pod)
	return strings.ReplaceAll(arg, "$("+EnvPodNamespace+")", namespace)
}

// RaftAdvertiseArg is the value of -raft-adv-addr, with the pod's own name (and namespace, for
// fully qualified addresses) from the downward API.
func (c *Cluster) RaftAdvertiseArg(p *Pool) string {
	if c.Layout.FQDNRaft {
		return fmt.Sprintf("$(%s).%s.$(%s).svc.%s:%d", EnvPodName, p.Headless, EnvPodNamespace, c.Spec.Spec.ClusterDomain, RaftPort)
	}
	return fmt.Sprintf("$(%s).%s:%d", EnvPodName, p.Headless, RaftPort)
}

// HTTPAdvertiseArg is the advertised HTTP address. Clients in other namespaces follow leader
// redirects to it, so it is fully qualified; the namespace comes from the downward API at pod start
// so a kustomize `namespace:` never leaves it stale.
func (c *Cluster) HTTPAdvertiseArg(p *Pool) string {
	return fmt.Sprintf("$(%s).%s.$(%s).svc.%s:%d", EnvPodName, p.Headless, EnvPodNamespace, c.Spec.Spec.ClusterDomain, HTTPPort)
}

// Peer is one entry of peers.json, in the shape rqlited reads from <data>/raft/peers.json.
type Peer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	NonVoter bool   `json:"non_voter"`
}

// Peers is the static membership used for recovery: the voters only. Read-only nodes are left out
// on purpose: they rejoin through discovery once the voters have a leader again, and an entry for
// a read-only pod that no longer exists would be a member that can never answer.
func (c *Cluster) Peers() []Peer {
	n := int(c.VoterCount())
	out := make([]Peer, 0, n)
	for i := 0; i < n; i++ {
		pod := c.Voters.PodName(i)
		out = append(out, Peer{ID: pod, Address: c.RaftAddress(&c.Voters, pod)})
	}
	return out
}

// PeersJSON is peers.json as stored in the ConfigMap.
func (c *Cluster) PeersJSON() string {
	return mustJSON(c.Peers())
}

// ConfigData is the ConfigMap data: everything that changes with scale or recovery.
func (c *Cluster) ConfigData() map[string]string {
	ro := "0"
	if c.ReadOnly != nil {
		if c.ReadOnly.Replicas != nil {
			ro = strconv.Itoa(int(*c.ReadOnly.Replicas))
		} else {
			ro = "autoscaled"
		}
	}
	data := map[string]string{
		KeyBootstrapExpect: strconv.Itoa(int(BootstrapExpect(c.VoterCount(), c.Spec.Spec.Recovery.StaticPeers))),
		KeyVoters:          strconv.Itoa(int(c.VoterCount())),
		KeyReadOnly:        ro,
		KeyStaticPeers:     strconv.FormatBool(c.Spec.Spec.Recovery.StaticPeers),
		KeyPeersJSON:       c.PeersJSON(),
	}
	if b := c.Spec.Spec.Backup; b != nil {
		data[KeyBackup] = mustJSON(backupConfig{
			Version: 1, Type: storageType(b), Interval: b.Interval, NoCompress: !*b.Compress,
			Timestamp: b.Timestamp, Vacuum: b.Vacuum, Sub: storageSub(b, c.Layout.GCSMount()+"/"+GCSFile),
		})
		if r := b.Restore; r != nil && r.Enabled {
			data[KeyRestore] = mustJSON(restoreConfig{
				Version: 1, Type: storageType(b), Timeout: r.Timeout, ContinueOnFailure: r.ContinueOnFailure, Sub: storageSub(b, c.Layout.GCSMount()+"/"+GCSFile),
			})
		}
	}
	return data
}

// HTTPScheme is the scheme of rqlited's HTTP API.
func (c *Cluster) HTTPScheme() string {
	if t := c.Spec.Spec.TLS; t != nil && t.Client != nil {
		return "https"
	}
	return "http"
}

// The auto-backup and auto-restore files in the shape rqlited reads them. Credentials appear only
// as $VARIABLES: rqlited expands them from its environment, which takes them from a Secret, so the
// ConfigMap never holds a secret.
type backupConfig struct {
	Version    int    `json:"version"`
	Type       string `json:"type"`
	Interval   string `json:"interval"`
	NoCompress bool   `json:"no_compress"`
	Timestamp  bool   `json:"timestamp"`
	Vacuum     bool   `json:"vacuum"`
	Sub        any    `json:"sub"`
}

type restoreConfig struct {
	Version           int    `json:"version"`
	Type              string `json:"type"`
	Timeout           string `json:"timeout"`
	ContinueOnFailure bool   `json:"continue_on_failure"`
	Sub               any    `json:"sub"`
}

type s3Sub struct {
	Endpoint        string `json:"endpoint,omitempty"`
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	Bucket          string `json:"bucket"`
	Path            string `json:"path"`
	ForcePathStyle  bool   `json:"force_path_style"`
}

type gcsSub struct {
	Endpoint        string `json:"endpoint,omitempty"`
	ProjectID       string `json:"project_id"`
	Bucket          string `json:"bucket"`
	Name            string `json:"name"`
	CredentialsPath string `json:"credentials_path"`
}

func storageType(b *v1alpha1.BackupSpec) string {
	if b.GCS != nil {
		return "gcs"
	}
	return "s3"
}

func storageSub(b *v1alpha1.BackupSpec, gcsPath string) any {
	if g := b.GCS; g != nil {
		return gcsSub{Endpoint: g.Endpoint, ProjectID: g.ProjectID, Bucket: g.Bucket, Name: g.Name, CredentialsPath: gcsPath}
	}
	s := b.S3
	sub := s3Sub{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, Path: s.Path, ForcePathStyle: s.ForcePathStyle}
	if s.AccessKeyID != nil {
		sub.AccessKeyID, sub.SecretAccessKey = "$"+EnvS3AccessKey, "$"+EnvS3SecretKey
	}
	return sub
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Plain structs of strings, bools and ints always encode.
		panic(err)
	}
	return string(b) + "\n"
}

// BootstrapExpect is the voters' -bootstrap-expect (the ConfigMap's bootstrap-expect): the voter
// count. During a recovery no node may bootstrap a new cluster: pods on lost volumes start empty,
// the recovering survivor notifies them while it has no leader, and with bootstrap-expect
// reachable they would form a configuration with an empty log that can outvote the survivor.
// One more than there are voters is a count no set of notifications reaches; rqlited refuses
// 0 with DNS discovery. Pods keep the value they started with, so the switch needs no restart.
func BootstrapExpect(voters int32, staticPeers bool) int32 {
	if staticPeers {
		return voters + 1
	}
	return voters
}

// MaxUnavailableVoters is how many voters may be down while a majority of the configuration stays
// up: ceil(N/2)-1, so 1 → 0, 2 → 0, 3 → 1, 4 → 1, 5 → 2.
func MaxUnavailableVoters(n int32) int32 {
	if n < 1 {
		return 0
	}
	return (n+1)/2 - 1
}

// imageTag returns the image's tag (without digest), or "" when there is none or it cannot be a
// label value.
func imageTag(image string) string {
	name, _, _ := strings.Cut(image, "@")
	slash := strings.LastIndexByte(name, '/')
	colon := strings.LastIndexByte(name, ':')
	if colon <= slash {
		return ""
	}
	tag := name[colon+1:]
	if len(validation.IsValidLabelValue(tag)) > 0 {
		return ""
	}
	return tag
}
