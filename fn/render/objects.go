package render

import (
	"net"
	"net/url"
	"strconv"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serviceAccount gives the pods an identity with no API access and no mounted token: rqlited
// never talks to the Kubernetes API.
func serviceAccount(c *model.Cluster) *corev1.ServiceAccount {
	m := meta(c, c.ServiceAccount(), "")
	for k, v := range c.Spec.Spec.ServiceAccount.Annotations {
		m.Annotations[k] = v
	}
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   m,
		AutomountServiceAccountToken: ptr(false),
	}
}

// configMap carries every value that changes with scale or recovery. Its name never carries a
// content hash: pods reference it by a stable name, so a new count does not create a new pod
// template.
func configMap(c *model.Cluster) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(c, c.ConfigMap(), ""),
		Data:       c.ConfigData(),
	}
}

// targetPort is a container port by name, or by number in a layout whose adopted pods name their
// ports differently.
func targetPort(c *model.Cluster, name string, number int32) intstr.IntOrString {
	if c.Layout.NumericTargetPorts {
		return intstr.FromInt32(number)
	}
	return intstr.FromString(name)
}

func httpServicePort(c *model.Cluster) corev1.ServicePort {
	return corev1.ServicePort{
		Name:        model.HTTPPortName,
		Port:        c.Layout.ServicePort,
		TargetPort:  targetPort(c, model.HTTPPortName, model.HTTPPort),
		Protocol:    corev1.ProtocolTCP,
		AppProtocol: ptr(c.HTTPScheme()),
	}
}

// clientService load-balances over ready pods of a pool.
func clientService(c *model.Cluster, p *model.Pool) *corev1.Service {
	svc := c.Spec.Spec.Service
	m := meta(c, p.Client, p.Component)
	for k, v := range svc.Annotations {
		m.Annotations[k] = v
	}
	s := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: m,
		Spec: corev1.ServiceSpec{
			Type:                     svc.Type,
			Selector:                 c.Selector(p.Component),
			Ports:                    []corev1.ServicePort{httpServicePort(c)},
			LoadBalancerSourceRanges: svc.LoadBalancerSourceRanges,
		},
	}
	return s
}

// headlessService governs a StatefulSet: it gives every pod a stable DNS name, including pods that
// are not ready yet, which discovery and Raft need before any node can become ready.
func headlessService(c *model.Cluster, p *model.Pool) *corev1.Service {
	raft := corev1.ServicePort{
		Name:       model.RaftPortName,
		Port:       model.RaftPort,
		TargetPort: targetPort(c, model.RaftPortName, model.RaftPort),
		Protocol:   corev1.ProtocolTCP,
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(c, p.Headless, p.Component),
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 c.Selector(p.Component),
			Ports:                    []corev1.ServicePort{httpServicePort(c), raft},
		},
	}
}

// podDisruptionBudget lets voluntary disruptions (node drains) take down voters only while a
// majority of the configuration stays up. Read-only nodes carry no quorum and go one at a time.
func podDisruptionBudget(c *model.Cluster, p *model.Pool) *policyv1.PodDisruptionBudget {
	maxUnavailable := intstr.FromInt32(1)
	if !p.ReadOnly {
		maxUnavailable = intstr.FromInt32(model.MaxUnavailableVoters(c.VoterCount()))
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: meta(c, p.PDB, p.Component),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &maxUnavailable,
			Selector:       &metav1.LabelSelector{MatchLabels: c.Selector(p.Component)},
		},
	}
}

func horizontalPodAutoscaler(c *model.Cluster) *autoscalingv2.HorizontalPodAutoscaler {
	ro := c.Spec.Spec.ReadOnly
	if ro == nil || ro.Autoscaling == nil {
		return nil
	}
	a := ro.Autoscaling
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: meta(c, c.HPA(), model.ComponentReadOnly),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: c.ReadOnly.StatefulSet,
			},
			MinReplicas: ptr(a.MinReplicas),
			MaxReplicas: a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type:               autoscalingv2.UtilizationMetricType,
						AverageUtilization: a.TargetCPUUtilizationPercentage,
					},
				},
			}},
		},
	}
}

// rqlitePods selects the rqlite pods of the cluster (both pools), but not its Jobs.
func rqlitePods(c *model.Cluster) *metav1.LabelSelector {
	return &metav1.LabelSelector{
		MatchLabels: c.Selector(""),
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn,
			Values: []string{model.ComponentVoter, model.ComponentReadOnly},
		}},
	}
}

// clusterPeers are the pods that may talk Raft and HTTP with the cluster's pods: its own and, while
// an adopted cluster is rolled onto the render, the pods not replaced yet (they carry only the
// adopted cluster's labels, and the replaced nodes must keep reaching them and being reached).
func clusterPeers(c *model.Cluster) []networkingv1.NetworkPolicyPeer {
	peers := []networkingv1.NetworkPolicyPeer{{PodSelector: rqlitePods(c)}}
	if a := c.AdoptedPods(); a != nil {
		peers = append(peers, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: a}})
	}
	return peers
}

func tcpPort(p int32) networkingv1.NetworkPolicyPort {
	tcp, port := corev1.ProtocolTCP, intstr.FromInt32(p)
	return networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &port}
}

// dnsEgress allows name resolution, which every pod of the cluster needs (discovery, Raft
// addresses, the object store); the cluster DNS service's address differs between clusters.
func dnsEgress() networkingv1.NetworkPolicyEgressRule {
	udp, tcp, port := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	return networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &tcp, Port: &port}}}
}

// networkPolicies default-deny everything the cluster does not need. The rqlite pods: the HTTP API
// is open to clients (all, or the peers the spec lists) and the Raft port only to the cluster's own
// pods; they may reach DNS, each other and, with backups, the object store. The shrink Job: no
// ingress; egress to DNS, the rqlite API and the Kubernetes API.
func networkPolicies(c *model.Cluster) []Object {
	np := c.Spec.Spec.NetworkPolicy
	if !*np.Enabled {
		return nil
	}
	var clients []networkingv1.NetworkPolicyPeer
	for _, p := range np.ClientFrom {
		peer := networkingv1.NetworkPolicyPeer{PodSelector: p.PodSelector, NamespaceSelector: p.NamespaceSelector}
		if p.IPBlock != nil {
			peer.IPBlock = &networkingv1.IPBlock{CIDR: p.IPBlock.CIDR, Except: p.IPBlock.Except}
		}
		clients = append(clients, peer)
	}
	if len(clients) > 0 {
		// The cluster's own pods and the shrink Job always reach the API.
		clients = append(clients, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: c.Selector("")}})
	}
	egress := []networkingv1.NetworkPolicyEgressRule{
		dnsEgress(),
		{
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(model.HTTPPort), tcpPort(model.RaftPort)},
			To:    clusterPeers(c),
		},
	}
	if b := c.Spec.Spec.Backup; b != nil {
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{Ports: objectStorePorts(b)})
	}
	egress = append(egress, np.ExtraEgress...)
	ingress := []networkingv1.NetworkPolicyIngressRule{
		{Ports: []networkingv1.NetworkPolicyPort{tcpPort(model.HTTPPort)}, From: clients},
		{
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(model.RaftPort)},
			From:  clusterPeers(c),
		},
	}
	if m := c.Spec.Spec.Metrics; m != nil && m.Enabled {
		// Prometheus runs in a namespace of its own, which differs between clusters.
		ingress = append(ingress, networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{tcpPort(MetricsPort)}})
	}
	out := []Object{&networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta(c, c.NetworkPolicy(), ""),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *rqlitePods(c),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     ingress,
			Egress:      egress,
		},
	}}
	if c.HasShrinkJob() {
		out = append(out, &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: meta(c, c.ShrinkRBAC(), model.ComponentShrink),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: c.Selector(model.ComponentShrink)},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					dnsEgress(),
					{Ports: []networkingv1.NetworkPolicyPort{tcpPort(model.HTTPPort)}, To: []networkingv1.NetworkPolicyPeer{{PodSelector: rqlitePods(c)}}},
					// The API server is outside the pod network and its address differs between
					// clusters; policies match the endpoint's port after the Service is resolved.
					{Ports: []networkingv1.NetworkPolicyPort{tcpPort(443), tcpPort(6443)}},
				},
			},
		})
	}
	return out
}

// objectStorePorts are the ports backups go out on: HTTPS, or the port of a custom endpoint.
func objectStorePorts(b *v1alpha1.BackupSpec) []networkingv1.NetworkPolicyPort {
	ports := []networkingv1.NetworkPolicyPort{tcpPort(443)}
	endpoint := ""
	if b.S3 != nil {
		endpoint = b.S3.Endpoint
	} else if b.GCS != nil {
		endpoint = b.GCS.Endpoint
	}
	if u, err := url.Parse(endpoint); err == nil && u.Port() != "" {
		if p, err := strconv.Atoi(u.Port()); err == nil && p != 443 {
			ports = append(ports, tcpPort(int32(p)))
		}
	} else if err == nil && u.Scheme == "http" {
		ports = append(ports, tcpPort(80))
	} else if _, port, err := net.SplitHostPort(endpoint); err == nil {
		if p, err := strconv.Atoi(port); err == nil && p != 443 {
			ports = append(ports, tcpPort(int32(p)))
		}
	}
	return ports
}
