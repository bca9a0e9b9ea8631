// Package v1alpha1 holds the RqliteSpec API: the one resource a user writes. It knows how to decode
// strictly, fill defaults and validate; it knows nothing about the objects rendered from it.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	Group      = "rqlite.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "RqliteSpec"

	// DefaultImage is pinned to a released rqlite image so a render never changes under the user's feet.
	DefaultImage = "docker.io/rqlite/rqlite:9.1.3"
	// DefaultClusterDomain is the kubelet default; clusters with another domain set spec.clusterDomain.
	DefaultClusterDomain = "cluster.local"
	DefaultVoters        = 3
	DefaultStorageSize   = "10Gi"
)

// RqliteSpec describes one rqlite cluster: its voters, an optional read-only pool and everything the
// pods need. The zero value of every optional field means "the documented default".
type RqliteSpec struct {
	metav1.TypeMeta `json:",inline"`
	// Metadata is restricted on purpose: name (the cluster name), namespace, labels and annotations.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the desired cluster.
	Spec ClusterSpec `json:"spec"`
}

// ObjectMeta is the subset of metav1.ObjectMeta a spec may carry. Strict decoding rejects the rest,
// so a mistyped `namepsace` is an error, not a silently ignored key.
type ObjectMeta struct {
	// Name of the cluster: every object and pod name starts with it (DNS-1035 label, at most 40 characters).
	Name string `json:"name"`
	// Namespace of every rendered object; needed by the shrink Job's RoleBinding and FQDN certificates.
	Namespace string `json:"namespace,omitempty"`
	// Labels are copied to every rendered object and pod; the function's own app.kubernetes.io/{name,instance,component,version,managed-by} are reserved.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are copied to every rendered object, except those under the domains of Kubernetes, its tools and orchestrators (*.kubernetes.io, *.k8s.io, kpt.dev, *.argoproj.io, *.helm.sh, *.fluxcd.io, *.k14s.io, *.rqlite.io), which describe the spec itself.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ClusterSpec is the desired state of the cluster.
type ClusterSpec struct {
	// Image is the rqlite container image, pinned by tag or digest.
	Image string `json:"image,omitempty"`
	// ImagePullPolicy defaults to IfNotPresent.
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// ImagePullSecrets are passed to every pod.
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// ClusterDomain is the cluster's DNS domain, used in the advertised HTTP address clients are
	// redirected to.
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// Voters is the Raft voting membership.
	Voters VoterPool `json:"voters,omitempty"`
	// ReadOnly is an optional pool of non-voting nodes that serve reads.
	ReadOnly *ReadOnlyPool `json:"readOnly,omitempty"`
	// Storage is the persistent volume each node's data lives on.
	Storage Storage `json:"storage,omitempty"`
	// Service configures the client Services.
	Service ServiceSpec `json:"service,omitempty"`
	// Recovery holds the disaster-recovery switches.
	Recovery Recovery `json:"recovery,omitempty"`
	// NetworkPolicy configures the rendered NetworkPolicy.
	NetworkPolicy NetworkPolicySpec `json:"networkPolicy,omitempty"`
	// Shrink configures the Job that removes voters safely when spec.voters.replicas goes down.
	Shrink ShrinkSpec `json:"shrink,omitempty"`
	// TLS encrypts node-to-node (Raft) and client (HTTP API) traffic.
	TLS *TLSSpec `json:"tls,omitempty"`
	// Auth turns on rqlite's authentication from a users file kept in a Secret.
	Auth *AuthSpec `json:"auth,omitempty"`
	// Backup uploads the database to object storage at an interval, and can restore from it.
	Backup *BackupSpec `json:"backup,omitempty"`
	// ServiceAccount configures the pods' ServiceAccount (e.g. workload identity annotations).
	ServiceAccount ServiceAccountSpec `json:"serviceAccount,omitempty"`
	// Metrics adds a Prometheus exporter sidecar to every pod and, optionally, a PodMonitor.
	Metrics *MetricsSpec `json:"metrics,omitempty"`
	// Naming chooses the layout of names and paths: "default", "helm-chart" to adopt a cluster
	// created by the rqlite Helm chart, or "kubernetes-configuration" to adopt one built from
	// rqlite's Kubernetes guide (same StatefulSets, headless Services, selectors, volume claim
	// templates, data directory, node ids and Raft addresses, so its PVCs and membership are reused).
	Naming NamingStyle `json:"naming,omitempty"`
	// HelmRelease is the Helm release name of an adopted chart cluster (naming: helm-chart). The
	// chart labels its pods app.kubernetes.io/instance=<release>, and StatefulSet selectors are
	// immutable, so the adopted selectors must use it. Defaults to metadata.name.
	HelmRelease string `json:"helmRelease,omitempty"`
}

// MetricsSpec configures the metrics sidecar. rqlited publishes its statistics only as JSON; the
// sidecar (`rqlite-fn exporter`) serves them in the Prometheus text format on port 9102.
type MetricsSpec struct {
	// Enabled adds the exporter sidecar to every pod.
	Enabled bool `json:"enabled"`
	// Image runs `rqlite-fn exporter`; defaults to spec.shrink.image (this function's image).
	Image string `json:"image,omitempty"`
	// Credentials of a user with the status permission, needed when spec.auth is on.
	Credentials *Credentials `json:"credentials,omitempty"`
	// PodMonitor renders a monitoring.coreos.com/v1 PodMonitor for the Prometheus operator.
	PodMonitor *PodMonitorSpec `json:"podMonitor,omitempty"`
}

// PodMonitorSpec configures the rendered PodMonitor.
type PodMonitorSpec struct {
	// Interval between scrapes, e.g. 30s (the operator's default when empty).
	Interval string `json:"interval,omitempty"`
	// Labels are added to the PodMonitor so a Prometheus' podMonitorSelector picks it up.
	Labels map[string]string `json:"labels,omitempty"`
}

// NamingStyle selects how objects, volumes and addresses are named.
type NamingStyle string

const (
	NamingDefault   NamingStyle = "default"
	NamingHelmChart NamingStyle = "helm-chart"
	// NamingKubernetesConfiguration keeps the names of rqlite's kubernetes-configuration
	// manifests (the Kubernetes guide): StatefulSet <name> selecting app=<name>, headless Service
	// <name>-svc-internal, client Service <name>-svc, claim template rqlite-file.
	NamingKubernetesConfiguration NamingStyle = "kubernetes-configuration"
)

// ServiceAccountSpec configures the rqlite pods' ServiceAccount.
type ServiceAccountSpec struct {
	// Annotations, e.g. eks.amazonaws.com/role-arn for S3 backups through IAM roles for service accounts.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TLSSpec configures TLS for the two listeners of rqlited.
type TLSSpec struct {
	// Node secures Raft and cluster traffic between nodes.
	Node *TLSConfig `json:"node,omitempty"`
	// Client secures the HTTP API (clients, probes, the shrink Job).
	Client *TLSConfig `json:"client,omitempty"`
}

// TLSConfig names where a certificate comes from. The Secret has the kubernetes.io/tls keys
// tls.crt and tls.key plus ca.crt (cert-manager writes all three).
type TLSConfig struct {
	// SecretName of an existing kubernetes.io/tls Secret; with certManager, the Secret the
	// Certificate writes (default <name>-node-tls or <name>-client-tls).
	SecretName string `json:"secretName,omitempty"`
	// CertManager renders a cert-manager Certificate covering every pod and Service name.
	CertManager *CertManager `json:"certManager,omitempty"`
	// VerifyClient requires peers (node) or clients (client) to present a certificate signed by
	// ca.crt: mutual TLS.
	VerifyClient bool `json:"verifyClient,omitempty"`
}

// CertManager configures the rendered cert-manager Certificate.
type CertManager struct {
	// IssuerRef names the cert-manager issuer that signs the certificate.
	IssuerRef IssuerRef `json:"issuerRef"`
	// Duration and RenewBefore are Go durations, e.g. 2160h.
	Duration string `json:"duration,omitempty"`
	// RenewBefore is how long before expiry cert-manager renews, a Go duration shorter than Duration.
	RenewBefore string `json:"renewBefore,omitempty"`
}

// IssuerRef points at a cert-manager Issuer or ClusterIssuer.
type IssuerRef struct {
	// Name of the Issuer or ClusterIssuer.
	Name string `json:"name"`
	// Kind is Issuer (default) or ClusterIssuer.
	Kind string `json:"kind,omitempty"`
	// Group of the issuer kind; default cert-manager.io.
	Group string `json:"group,omitempty"`
}

// SecretKeyRef names one key of a Secret in the cluster's namespace.
type SecretKeyRef struct {
	// Name of the Secret, in the cluster's namespace.
	Name string `json:"name"`
	// Key within the Secret; each field documents its default.
	Key string `json:"key,omitempty"`
}

// AuthSpec configures rqlite authentication. Credentials are only ever referenced: the function
// never generates or inlines a password, so renders stay deterministic and secret-free.
type AuthSpec struct {
	// UsersSecret holds rqlite's users file (default key users.json). It must grant the "ready"
	// permission to the anonymous user "*" so kubelet probes, which cannot carry credentials
	// without writing them into the pod spec, can read readiness.
	UsersSecret SecretKeyRef `json:"usersSecret"`
	// JoinAs is the user nodes join the cluster as. It needs the join and join-read-only
	// permissions, and remove: read-only nodes remove themselves on shutdown with these credentials.
	JoinAs string `json:"joinAs"`
	// ShrinkUser is the user the shrink Job acts as (needs remove, status and leader-ops).
	ShrinkUser *Credentials `json:"shrinkUser,omitempty"`
}

// Credentials are a user name and a password kept in a Secret.
type Credentials struct {
	// Username as written in rqlite's users file.
	Username string `json:"username"`
	// PasswordSecret holds the user's password (default key password).
	PasswordSecret SecretKeyRef `json:"passwordSecret"`
}

// BackupSpec configures rqlite's automatic backups (run by the leader) and restore.
type BackupSpec struct {
	// Interval between backups, a Go duration; default 1h.
	Interval string `json:"interval,omitempty"`
	// Vacuum the copy before upload (smaller, slower).
	Vacuum bool `json:"vacuum,omitempty"`
	// Compress the upload with gzip; default true.
	Compress *bool `json:"compress,omitempty"`
	// Timestamp prefixes each upload's name with its time instead of overwriting one object.
	Timestamp bool `json:"timestamp,omitempty"`
	// Exactly one storage: S3 (or S3-compatible) or GCS.
	S3 *S3Storage `json:"s3,omitempty"`
	// GCS is a Google Cloud Storage bucket.
	GCS *GCSStorage `json:"gcs,omitempty"`
	// Restore loads the latest backup into a node that starts with no data.
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// S3Storage is an S3 or S3-compatible bucket.
type S3Storage struct {
	// Bucket receiving the backups.
	Bucket string `json:"bucket"`
	// Path is the object key, e.g. backups/rqlite.sqlite.gz.
	Path string `json:"path"`
	// Region of the bucket, e.g. us-east-1.
	Region string `json:"region"`
	// Endpoint for S3-compatible stores (MinIO, Ceph, …); empty means AWS.
	Endpoint string `json:"endpoint,omitempty"`
	// ForcePathStyle addresses the bucket in the path, as most S3-compatible stores need.
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`
	// AccessKeyID and SecretAccessKey reference a Secret; leave both out to use the pod's
	// workload identity (IAM roles for service accounts: see spec.serviceAccount.annotations).
	AccessKeyID *SecretKeyRef `json:"accessKeyID,omitempty"`
	// SecretAccessKey goes with AccessKeyID (default key secret-access-key).
	SecretAccessKey *SecretKeyRef `json:"secretAccessKey,omitempty"`
}

// GCSStorage is a Google Cloud Storage bucket. rqlite authenticates with a service account key
// file, mounted from a Secret.
type GCSStorage struct {
	// Bucket receiving the backups.
	Bucket string `json:"bucket"`
	// Name of the backup object in the bucket.
	Name string `json:"name"`
	// ProjectID of the Google Cloud project.
	ProjectID string `json:"projectID"`
	// Endpoint overrides the GCS API address (emulators, private endpoints).
	Endpoint string `json:"endpoint,omitempty"`
	// CredentialsSecret holds the service account key JSON (default key credentials.json).
	CredentialsSecret SecretKeyRef `json:"credentialsSecret"`
}

// RestoreSpec configures rqlite's automatic restore from the backup location.
type RestoreSpec struct {
	// Enabled adds -auto-restore to the voters.
	Enabled bool `json:"enabled,omitempty"`
	// Timeout for the download, a Go duration; default 5m.
	Timeout string `json:"timeout,omitempty"`
	// ContinueOnFailure starts the node empty when the restore fails instead of exiting.
	ContinueOnFailure bool `json:"continueOnFailure,omitempty"`
}

// VoterPool is the voting membership of the cluster.
type VoterPool struct {
	// Replicas is the number of voters; odd numbers tolerate the most failures per node.
	Replicas *int32 `json:"replicas,omitempty"`
	// Pool holds the voters' pod settings.
	Pool `json:",inline"`
}

// ReadOnlyPool is a set of non-voting nodes. Exactly one of Replicas or Autoscaling is set.
type ReadOnlyPool struct {
	// Replicas is a fixed pool size (0 keeps the objects but runs no pods).
	Replicas *int32 `json:"replicas,omitempty"`
	// Autoscaling renders a HorizontalPodAutoscaler and leaves replicas to it.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// Pool holds the read-only pods' settings.
	Pool `json:",inline"`
}

// Autoscaling bounds the read-only pool's HorizontalPodAutoscaler.
type Autoscaling struct {
	// MinReplicas is the smallest pool the autoscaler keeps (at least 1).
	MinReplicas int32 `json:"minReplicas"`
	// MaxReplicas is the largest pool the autoscaler grows to (at least minReplicas).
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilizationPercentage defaults to 70.
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// Pool holds what both pools can set on their pods.
type Pool struct {
	// Resources of the rqlited container; defaults fill only what is not set, and never conflict with it.
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Scheduling places the pods; by default pods of a pool avoid sharing a node and spread over zones.
	Scheduling Scheduling `json:"scheduling,omitempty"`
	// Probes override the rendered probes field by field (a nil field keeps the default).
	Probes Probes `json:"probes,omitempty"`
	// ExtraArgs are appended to rqlited's flags: -name, -name=value, or -name and its value as two
	// items. Only flags of rqlited v8.43.4 that the function does not manage are accepted.
	ExtraArgs []string `json:"extraArgs,omitempty"`
	// ExtraEnv adds environment variables to the rqlited container.
	ExtraEnv []corev1.EnvVar `json:"extraEnv,omitempty"`
	// ExtraVolumes adds pod volumes (data, tmp, config and the feature volumes are reserved names).
	ExtraVolumes []corev1.Volume `json:"extraVolumes,omitempty"`
	// ExtraVolumeMounts mounts ExtraVolumes into the rqlited container, outside /rqlite, /config and /tmp.
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts,omitempty"`
	// PodLabels are added to the pods (app.kubernetes.io/{name,instance,component,version,managed-by} are reserved: they select the pods).
	PodLabels map[string]string `json:"podLabels,omitempty"`
	// PodAnnotations are added to the pods.
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	// ExtraContainers run beside rqlited (sidecars); ExtraInitContainers before it.
	ExtraContainers []corev1.Container `json:"extraContainers,omitempty"`
	// ExtraInitContainers run before rqlited, after the function's own init container.
	ExtraInitContainers []corev1.Container `json:"extraInitContainers,omitempty"`
}

// Scheduling places a pool's pods.
type Scheduling struct {
	// NodeSelector restricts the pods to nodes with these labels.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let the pods run on tainted nodes.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity replaces the default anti-affinity entirely when set.
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// AntiAffinity chooses the default host anti-affinity: preferred (default), required or none.
	AntiAffinity AntiAffinityMode `json:"antiAffinity,omitempty"`
	// TopologySpreadConstraints replace the default zone spread when set.
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// PriorityClassName of the pods, e.g. a class that protects databases from preemption.
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// AntiAffinityMode selects how strongly pods of one pool avoid sharing a node.
type AntiAffinityMode string

const (
	AntiAffinityPreferred AntiAffinityMode = "preferred"
	AntiAffinityRequired  AntiAffinityMode = "required"
	AntiAffinityNone      AntiAffinityMode = "none"
)

// Probes override the rendered probes.
type Probes struct {
	// Readiness tunes the readiness probe (/readyz?sync).
	Readiness *ProbeOverride `json:"readiness,omitempty"`
	// Liveness tunes the liveness probe (/readyz?noleader).
	Liveness *ProbeOverride `json:"liveness,omitempty"`
	// Startup tunes the startup probe (/readyz?noleader), which passes once rqlited serves HTTP
	// (before it opens and restores its store); raise failureThreshold when an auto-restore
	// download, which comes before HTTP, may take longer than 5 minutes.
	Startup *ProbeOverride `json:"startup,omitempty"`
}

// ProbeOverride changes a probe's timing; the endpoint stays the function's, because the readiness
// semantics (caught up with the leader) are what keeps stale nodes out of the Services.
type ProbeOverride struct {
	// InitialDelaySeconds before the first probe.
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`
	// PeriodSeconds between probes.
	PeriodSeconds *int32 `json:"periodSeconds,omitempty"`
	// TimeoutSeconds for one probe.
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
	// FailureThreshold: consecutive failures before the probe fails.
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
	// SuccessThreshold: consecutive successes before readiness returns (1 for liveness and startup).
	SuccessThreshold *int32 `json:"successThreshold,omitempty"`
}

// Storage is the per-node persistent volume.
type Storage struct {
	// StorageClassName of the PVCs; the cluster default when unset. Immutable once created.
	StorageClassName *string `json:"storageClassName,omitempty"`
	// Size defaults to 10Gi.
	Size *resource.Quantity `json:"size,omitempty"`
	// RetentionPolicy says what happens to PVCs when the StatefulSet is deleted or scaled down.
	// Both default to Retain: a scaled-away node's data is kept until an operator deletes it.
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// RetentionPolicy mirrors the StatefulSet PVC retention policy.
type RetentionPolicy struct {
	// WhenDeleted: Retain (default) or Delete the PVCs when the StatefulSet is deleted.
	WhenDeleted string `json:"whenDeleted,omitempty"`
	// WhenScaled: Retain (default) or Delete the PVCs of pods removed by scaling down.
	WhenScaled string `json:"whenScaled,omitempty"`
}

// ServiceSpec configures the client Services (voters and read-only).
type ServiceSpec struct {
	// Type of the client Services: ClusterIP (default), NodePort or LoadBalancer.
	Type corev1.ServiceType `json:"type,omitempty"`
	// Annotations on the client Services, e.g. for a cloud load balancer.
	Annotations map[string]string `json:"annotations,omitempty"`
	// LoadBalancerSourceRanges restricts a LoadBalancer Service to these CIDRs.
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
}

// Recovery holds the disaster-recovery switches.
type Recovery struct {
	// StaticPeers installs the rendered peers.json into every node's Raft directory at pod start.
	// Turn it on only to recover from a permanent loss of quorum, then off again.
	StaticPeers bool `json:"staticPeers,omitempty"`
}

// NetworkPolicySpec configures the rendered NetworkPolicy.
type NetworkPolicySpec struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// ClientFrom restricts who may reach the HTTP API; empty means any pod or address.
	ClientFrom []NetworkPolicyPeer `json:"clientFrom,omitempty"`
	// ExtraEgress adds egress rules for the rqlite pods (e.g. a sidecar's destination). DNS, the
	// cluster's own pods and, with backups, HTTPS to the object store are always allowed.
	ExtraEgress []networkingv1.NetworkPolicyEgressRule `json:"extraEgress,omitempty"`
}

// NetworkPolicyPeer selects clients allowed to reach the HTTP API.
type NetworkPolicyPeer struct {
	// PodSelector selects client pods (in the cluster's namespace, or in NamespaceSelector's).
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
	// NamespaceSelector selects client namespaces.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// IPBlock admits clients by address.
	IPBlock *IPBlock `json:"ipBlock,omitempty"`
}

// IPBlock is a CIDR with optional exceptions.
type IPBlock struct {
	// CIDR admitted, e.g. 10.0.0.0/8.
	CIDR string `json:"cidr"`
	// Except carves CIDRs out of CIDR.
	Except []string `json:"except,omitempty"`
}

// ShrinkSpec configures the voter shrink Job.
type ShrinkSpec struct {
	// Image runs `rqlite-fn shrink`; defaults to this function's own released image.
	Image string `json:"image,omitempty"`
	// Enabled defaults to true: without the Job, lowering voters loses quorum.
	Enabled *bool `json:"enabled,omitempty"`
}
