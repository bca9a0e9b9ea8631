// Package v1alpha1 holds the RqliteSpec API: the one resource a user writes. It knows how to decode
// strictly, fill defaults and validate; it knows nothing about the objects rendered from it.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
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
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ClusterSpec `json:"spec"`
}

// ObjectMeta is the subset of metav1.ObjectMeta a spec may carry. Strict decoding rejects the rest,
// so a mistyped `namepsace` is an error, not a silently ignored key.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
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
}

// VoterPool is the voting membership of the cluster.
type VoterPool struct {
	// Replicas is the number of voters; odd numbers tolerate the most failures per node.
	Replicas *int32 `json:"replicas,omitempty"`
	Pool     `json:",inline"`
}

// ReadOnlyPool is a set of non-voting nodes. Exactly one of Replicas or Autoscaling is set.
type ReadOnlyPool struct {
	// Replicas is a fixed pool size (0 keeps the objects but runs no pods).
	Replicas *int32 `json:"replicas,omitempty"`
	// Autoscaling renders a HorizontalPodAutoscaler and leaves replicas to it.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	Pool        `json:",inline"`
}

// Autoscaling bounds the read-only pool's HorizontalPodAutoscaler.
type Autoscaling struct {
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilizationPercentage defaults to 70.
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// Pool holds what both pools can set on their pods.
type Pool struct {
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Scheduling places the pods; by default pods of a pool avoid sharing a node and spread over zones.
	Scheduling Scheduling `json:"scheduling,omitempty"`
	// Probes override the rendered probes field by field (a nil field keeps the default).
	Probes Probes `json:"probes,omitempty"`
	// ExtraArgs are appended to rqlited's flags. Flags the function manages are refused.
	ExtraArgs         []string             `json:"extraArgs,omitempty"`
	ExtraEnv          []corev1.EnvVar      `json:"extraEnv,omitempty"`
	ExtraVolumes      []corev1.Volume      `json:"extraVolumes,omitempty"`
	ExtraVolumeMounts []corev1.VolumeMount `json:"extraVolumeMounts,omitempty"`
	PodLabels         map[string]string    `json:"podLabels,omitempty"`
	PodAnnotations    map[string]string    `json:"podAnnotations,omitempty"`
}

// Scheduling places a pool's pods.
type Scheduling struct {
	NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity replaces the default anti-affinity entirely when set.
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// AntiAffinity chooses the default host anti-affinity: preferred (default), required or none.
	AntiAffinity AntiAffinityMode `json:"antiAffinity,omitempty"`
	// TopologySpreadConstraints replace the default zone spread when set.
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	PriorityClassName         string                            `json:"priorityClassName,omitempty"`
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
	Readiness *ProbeOverride `json:"readiness,omitempty"`
	Liveness  *ProbeOverride `json:"liveness,omitempty"`
	Startup   *ProbeOverride `json:"startup,omitempty"`
}

// ProbeOverride changes a probe's timing; the endpoint stays the function's, because the readiness
// semantics (caught up with the leader) are what keeps stale nodes out of the Services.
type ProbeOverride struct {
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       *int32 `json:"periodSeconds,omitempty"`
	TimeoutSeconds      *int32 `json:"timeoutSeconds,omitempty"`
	FailureThreshold    *int32 `json:"failureThreshold,omitempty"`
	SuccessThreshold    *int32 `json:"successThreshold,omitempty"`
}

// Storage is the per-node persistent volume.
type Storage struct {
	StorageClassName *string `json:"storageClassName,omitempty"`
	// Size defaults to 10Gi.
	Size *resource.Quantity `json:"size,omitempty"`
	// RetentionPolicy says what happens to PVCs when the StatefulSet is deleted or scaled down.
	// Both default to Retain: a scaled-away node's data is kept until an operator deletes it.
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`
}

// RetentionPolicy mirrors the StatefulSet PVC retention policy.
type RetentionPolicy struct {
	WhenDeleted string `json:"whenDeleted,omitempty"`
	WhenScaled  string `json:"whenScaled,omitempty"`
}

// ServiceSpec configures the client Services (voters and read-only).
type ServiceSpec struct {
	Type                     corev1.ServiceType `json:"type,omitempty"`
	Annotations              map[string]string  `json:"annotations,omitempty"`
	LoadBalancerSourceRanges []string           `json:"loadBalancerSourceRanges,omitempty"`
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
}

// NetworkPolicyPeer selects clients allowed to reach the HTTP API.
type NetworkPolicyPeer struct {
	PodSelector       *metav1.LabelSelector `json:"podSelector,omitempty"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	IPBlock           *IPBlock              `json:"ipBlock,omitempty"`
}

// IPBlock is a CIDR with optional exceptions.
type IPBlock struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// ShrinkSpec configures the voter shrink Job.
type ShrinkSpec struct {
	// Image runs `rqlite-fn shrink`; defaults to this function's own released image.
	Image string `json:"image,omitempty"`
	// Enabled defaults to true: without the Job, lowering voters loses quorum.
	Enabled *bool `json:"enabled,omitempty"`
}
