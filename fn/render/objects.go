package render

import (
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

func httpServicePort(c *model.Cluster) corev1.ServicePort {
	return corev1.ServicePort{
		Name:        model.HTTPPortName,
		Port:        model.HTTPPort,
		TargetPort:  intstr.FromString(model.HTTPPortName),
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
		TargetPort: intstr.FromString(model.RaftPortName),
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

// networkPolicy opens the HTTP API to clients (all, or the peers the spec lists) and the Raft port
// only to this cluster's own pods.
func networkPolicy(c *model.Cluster) *networkingv1.NetworkPolicy {
	np := c.Spec.Spec.NetworkPolicy
	if !*np.Enabled {
		return nil
	}
	tcp := corev1.ProtocolTCP
	httpPort := intstr.FromInt32(model.HTTPPort)
	raftPort := intstr.FromInt32(model.RaftPort)
	var clients []networkingv1.NetworkPolicyPeer
	for _, p := range np.ClientFrom {
		peer := networkingv1.NetworkPolicyPeer{PodSelector: p.PodSelector, NamespaceSelector: p.NamespaceSelector}
		if p.IPBlock != nil {
			peer.IPBlock = &networkingv1.IPBlock{CIDR: p.IPBlock.CIDR, Except: p.IPBlock.Except}
		}
		clients = append(clients, peer)
	}
	if len(clients) > 0 {
		// The cluster's own pods and the shrink Job always reach the API: joins are redirected
		// over HTTP and the Job removes nodes through it.
		clients = append(clients,
			networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: c.Selector("")}},
		)
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta(c, c.NetworkPolicy(), ""),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: c.Selector("")},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &httpPort}}, From: clients},
				{
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &raftPort}},
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: c.Selector("")}}},
				},
			},
		},
	}
}
