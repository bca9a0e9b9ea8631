package helmchart

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// The chart's pod script runs before the image's entrypoint: it copies the generated peers.json
// into place when static peers are on, then execs the entrypoint with the flags. These are the
// fragments of it the tests and the reference check rely on (the script is the chart's; this is
// our statement of what it does, built from those fragments).
var ScriptFragments = []string{
	`rm -f /rqlite/raft/peers.info`,
	`"$RQLITE_USE_STATIC_PEERS" = "true"`,
	`cp /config/peers/peers.json /rqlite/raft`,
	`exec /bin/docker-entrypoint.sh "$0" "$@"`,
}

var script = fmt.Sprintf("%s\nif [ %s ]; then mkdir -p /rqlite/raft; %s; fi\n%s",
	ScriptFragments[0], ScriptFragments[1], ScriptFragments[2], ScriptFragments[3])

// Objects builds the objects the chart renders for c, in the chart's order, from the facts.
// Objects in Chart.Others are not built.
func (c Case) Objects() []runtime.Object {
	ch := c.Chart
	objs := []runtime.Object{networkPolicy(), pdb(Release, "voter", ch.VoterPDB, ch.MinAvailable)}
	if ch.ReadOnly > 0 {
		objs = append(objs, pdb(Release+"-readonly", "readonly", intstr.FromInt32(1), false))
	}
	if ch.ServiceAccount != "" {
		objs = append(objs, &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: ch.ServiceAccount, Labels: chartLabels(""), Annotations: ch.ServiceAccountAnnotations},
		})
	}
	for _, name := range []string{Release, Release + "-internal", Release + "-extra"} {
		objs = append(objs, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: chartLabels("")},
			Type:       corev1.SecretTypeOpaque,
		})
	}
	objs = append(objs, peersConfigMap(ch))
	objs = append(objs, services(ch, "voter", "", ch.ServiceType, ch.NodePort)...)
	if ch.ReadOnly > 0 {
		objs = append(objs, services(ch, "readonly", "-readonly", ch.ReadOnlyServiceType, ch.ReadOnlyNodePort)...)
	}
	objs = append(objs, statefulSet(ch, "voter"))
	if ch.ReadOnly > 0 {
		objs = append(objs, statefulSet(ch, "readonly"))
	}
	return objs
}

// IDs is every object the chart renders for c: the built ones and Chart.Others.
func (c Case) IDs() []ObjectID {
	var ids []ObjectID
	for _, o := range c.Objects() {
		m := o.(metav1.Object)
		ids = append(ids, ObjectID{o.GetObjectKind().GroupVersionKind().Kind, m.GetName()})
	}
	return append(ids, c.Chart.Others...)
}

// selector is the chart's selector labels; component is "" for the objects of both pools.
func selector(component string) map[string]string {
	l := map[string]string{"app.kubernetes.io/name": "rqlite", "app.kubernetes.io/instance": Release}
	if component != "" {
		l["app.kubernetes.io/component"] = component
	}
	return l
}

// chartLabels is the chart's common labels, which the selector labels are part of.
func chartLabels(component string) map[string]string {
	l := selector(component)
	l["helm.sh/chart"] = ChartLabel
	l["app.kubernetes.io/version"] = AppVersion
	l["app.kubernetes.io/managed-by"] = "Helm"
	return l
}

// networkPolicy admits anyone to the HTTP port and only the release's pods to the Raft port.
func networkPolicy() *networkingv1.NetworkPolicy {
	port := func(p int32) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(p))}}
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: Release},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selector("")},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: port(4001)},
				{Ports: port(4002), From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: selector("")}}}},
			},
		},
	}
}

func pdb(name, component string, budget intstr.IntOrString, minAvailable bool) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: chartLabels("")},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: selector(component)}},
	}
	if minAvailable {
		p.Spec.MinAvailable = &budget
	} else {
		p.Spec.MaxUnavailable = &budget
	}
	return p
}

// peer is one entry of the chart's peers.json (IDs hard-coded from the release name).
type peer struct {
	Address  string `json:"address"`
	ID       string `json:"id"`
	NonVoter bool   `json:"non_voter"`
}

func peersConfigMap(ch Chart) *corev1.ConfigMap {
	var peers []peer
	add := func(sts, governing string, n int32, nonVoter bool) {
		for i := range n {
			pod := fmt.Sprintf("%s-%d", sts, i)
			peers = append(peers, peer{fmt.Sprintf("%s.%s.%s.svc.cluster.local:4002", pod, governing, Namespace), pod, nonVoter})
		}
	}
	add(Release, Release+"-headless", ch.Voters, false)
	add(Release+"-readonly", Release+"-headless-readonly", ch.ReadOnly, true)
	b, err := json.MarshalIndent(peers, "", "  ")
	if err != nil {
		panic(err) // a slice of plain structs always encodes
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: Release + "-peers", Labels: chartLabels("")},
		Data: map[string]string{
			"voter-replica-count": fmt.Sprint(ch.Voters),
			"use-static-peers":    "false",
			"peers.json":          string(b),
		},
	}
}

// services are a pool's client Service and its headless governing Service (which also serves
// Raft and publishes pods that are not ready, for discovery).
func services(ch Chart, component, suffix string, typ corev1.ServiceType, nodePort int32) []runtime.Object {
	svc := func(name string) *corev1.Service {
		return &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: chartLabels(component), Annotations: ch.ServiceAnnotations},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector(component)},
		}
	}
	client := svc(Release + suffix)
	client.Spec.Type = typ
	client.Spec.Ports = []corev1.ServicePort{{Name: "http", AppProtocol: ptr.To(ch.AppProtocol), Protocol: corev1.ProtocolTCP,
		Port: ch.Port, TargetPort: intstr.FromString("http"), NodePort: nodePort}}
	headless := svc(Release + "-headless" + suffix)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.PublishNotReadyAddresses = true
	headless.Spec.Ports = []corev1.ServicePort{
		{Name: "http", Protocol: corev1.ProtocolTCP, Port: ch.Port, TargetPort: intstr.FromString("http")},
		{Name: "raft", Protocol: corev1.ProtocolTCP, Port: 4002, TargetPort: intstr.FromString("raft")},
	}
	return []runtime.Object{client, headless}
}

// YAML is Objects as a multi-document YAML stream, the form `helm template` writes.
func (c Case) YAML() ([]byte, error) {
	var out []byte
	for _, o := range c.Objects() {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("helmchart: %s: %w", c.Name, err)
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
	}
	return out, nil
}
