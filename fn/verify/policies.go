package verify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/model"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The checks in this file hold the cluster-wide objects to what the README promises of them
// (docs/verify.md): Services, disruption budgets, network policies, the shrink Job's privileges
// and ordering, labels, certificates and credentials.

const (
	argoHook     = "argocd.argoproj.io/hook"
	argoSyncWave = "argocd.argoproj.io/sync-wave"
)

// checkInvariants runs the checks that look at the cluster as a whole; check runs the per-object
// ones as it meets each object.
func (c *cluster) checkInvariants() {
	c.checkServicePublishing()
	c.checkDisruptionBudgets()
	c.checkShrinkOrdering()
}

// checkNameLabel: every object of the cluster carries app.kubernetes.io/name (instance and
// managed-by are how verify found it).
func (c *cluster) checkNameLabel(o *object) {
	if o.labels[labelName] != model.AppName {
		c.add(o, "metadata.labels["+labelName+"]", o.ref(), "is %q, not %q: every object of the cluster carries it", o.labels[labelName], model.AppName)
	}
}

// checkServicePublishing: a StatefulSet's headless Service publishes pods before they are ready
// (no rqlite pod is ready before the cluster has a leader, so discovery and Raft must reach them
// earlier); a client Service must not (clients would reach nodes that have not caught up).
func (c *cluster) checkServicePublishing() {
	for _, s := range c.statefulSets() {
		name := c.headless(s)
		o := c.idx.get("Service", s.obj.ns, name)
		var svc corev1.Service
		if o == nil || !o.as(&svc) || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			continue // reported by checkStatefulSet
		}
		if !svc.Spec.PublishNotReadyAddresses {
			c.add(o, "spec.publishNotReadyAddresses", s.obj.ref(), "is not true: no node is ready before the cluster has a leader, so discovery and Raft would never find the pods")
		}
	}
	governing := map[string]bool{}
	for _, s := range c.statefulSets() {
		governing[c.headless(s)] = true
	}
	for _, o := range c.objects {
		var svc corev1.Service
		if o.kind != "Service" || governing[o.name] || !o.as(&svc) || svc.Spec.ClusterIP == corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		c.add(o, "spec.publishNotReadyAddresses", c.peerOf(o), "is true on a client Service: clients would reach nodes that have not caught up with the leader and read stale data")
	}
}

// checkDisruptionBudgets: every pool has a PodDisruptionBudget; the voters' never lets a drain
// take the cluster below quorum (model.MaxUnavailableVoters), the read-only pool's drains one node
// at a time.
func (c *cluster) checkDisruptionBudgets() {
	type budget struct {
		obj *object
		pdb policyv1.PodDisruptionBudget
	}
	var budgets []budget
	for _, o := range c.objects {
		var b budget
		if o.kind == "PodDisruptionBudget" && o.as(&b.pdb) {
			b.obj = o
			budgets = append(budgets, b)
		}
	}
	for _, s := range c.statefulSets() {
		covered := false
		for _, b := range budgets {
			// A budget of the pool whose selector broke is reported by checkSelector.
			covered = covered || (b.obj.labels[labelComponent] != "" && b.obj.labels[labelComponent] == s.sts.Spec.Template.Labels[labelComponent])
			if b.pdb.Spec.Selector == nil || len(b.pdb.Spec.Selector.MatchLabels) == 0 || !selects(b.pdb.Spec.Selector.MatchLabels, s.sts.Spec.Template.Labels) {
				continue
			}
			covered = true
			if isVoter(s) {
				c.checkVoterBudget(b.obj, &b.pdb, s)
				continue
			}
			if mu := b.pdb.Spec.MaxUnavailable; mu == nil || b.pdb.Spec.MinAvailable != nil || *mu != intstr.FromInt32(1) {
				c.add(b.obj, "spec.maxUnavailable", s.obj.ref(), "the read-only pool's budget is maxUnavailable: 1 (drains take one node at a time, and never block)")
			}
		}
		if !covered {
			c.add(s.obj, "spec.template.metadata.labels", Ref{Kind: "PodDisruptionBudget", Namespace: s.obj.ns, Name: "*"}, "no PodDisruptionBudget selects the pods: a node drain may stop all of them at once")
		}
	}
}

func (c *cluster) checkVoterBudget(o *object, pdb *policyv1.PodDisruptionBudget, s *statefulSet) {
	if s.sts.Spec.Replicas == nil {
		return
	}
	n := *s.sts.Spec.Replicas
	limit := model.MaxUnavailableVoters(n)
	var down int32
	field := "spec.maxUnavailable"
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		// The disruption controller rounds percentages up.
		v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(n), true)
		if err != nil {
			c.add(o, field, s.obj.ref(), "%v", err)
			return
		}
		down = int32(v)
	case pdb.Spec.MinAvailable != nil:
		field = "spec.minAvailable"
		v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(n), true)
		if err != nil {
			c.add(o, field, s.obj.ref(), "%v", err)
			return
		}
		down = max(n-int32(v), 0)
	default:
		down = n
	}
	if down > limit {
		c.add(o, field, s.obj.ref(), "lets %d of %d voters be evicted at once, but Raft needs %d up (a majority): write maxUnavailable: %d", down, n, n-limit, limit)
	}
}

// checkShrinkOrdering: the voter shrink Job runs before the StatefulSet with fewer replicas is
// applied: as an Argo CD PreSync hook after its RBAC, and for kpt through depends-on.
func (c *cluster) checkShrinkOrdering() {
	var job *object
	for _, o := range c.objects {
		if o.kind == "Job" && o.labels[labelComponent] == model.ComponentShrink {
			job = o
		}
	}
	if job == nil {
		return
	}
	jobWave := annotation(job, argoSyncWave)
	for _, o := range c.objects {
		if o.labels[labelComponent] != model.ComponentShrink || o.kind == "NetworkPolicy" {
			continue
		}
		if annotation(o, argoHook) != "PreSync" {
			c.add(o, "metadata.annotations["+argoHook+"]", job.ref(), "is %q, not PreSync: Argo CD would apply the smaller StatefulSet before the shrink Job removed the voters safely", annotation(o, argoHook))
			continue
		}
		if o != job && !waveBefore(annotation(o, argoSyncWave), jobWave) {
			c.add(o, "metadata.annotations["+argoSyncWave+"]", job.ref(), "is %q, not before the Job's %q: the Job could start before its permissions exist", annotation(o, argoSyncWave), jobWave)
		}
	}
	if job.ns == "" {
		return // kpt's depends-on needs a namespace; the render leaves it out and warns
	}
	for _, s := range c.statefulSets() {
		// A depends-on that names something else is reported by checkDependsOn.
		if isVoter(s) && annotation(s.obj, annDependsOn) == "" {
			c.add(s.obj, "metadata.annotations["+annDependsOn+"]", job.ref(), "does not name the shrink Job: kpt live apply would lower the replicas before the Job removed the voters safely")
		}
	}
}

func annotation(o *object, key string) string {
	md, _ := o.raw["metadata"].(map[string]any)
	anns, _ := md["annotations"].(map[string]any)
	v, _ := anns[key].(string)
	return v
}

func waveBefore(a, b string) bool {
	var x, y int
	_, errA := fmt.Sscan(a, &x)
	_, errB := fmt.Sscan(b, &y)
	return errA == nil && errB == nil && x < y
}

// checkPolicyRules: default-deny both ways; the Raft port admitted from this cluster's pods and
// nobody else; the HTTP API open to clients; DNS and the peers reachable; the metrics port open
// to the scraper a PodMonitor declares; the shrink Job accepting nothing.
func (c *cluster) checkPolicyRules(o *object, np *networkingv1.NetworkPolicy) {
	types := np.Spec.PolicyTypes
	if !slices.Contains(types, networkingv1.PolicyTypeIngress) || !slices.Contains(types, networkingv1.PolicyTypeEgress) {
		c.add(o, "spec.policyTypes", c.peerOf(o), "is %v, not [Ingress Egress]: the pods would not be default-deny in both directions", types)
	}
	if np.Spec.PodSelector.MatchLabels[labelComponent] == model.ComponentShrink {
		if len(np.Spec.Ingress) > 0 {
			c.add(o, "spec.ingress", c.peerOf(o), "the shrink Job accepts no connections, so its policy admits none")
		}
		return
	}
	sets := c.statefulSets()
	if len(sets) == 0 {
		return
	}
	raftOwn, httpOpen := false, false
	for i, rule := range np.Spec.Ingress {
		if allowsPort(rule.Ports, model.RaftPort, model.RaftPortName) {
			if len(rule.From) == 0 {
				c.add(o, fmt.Sprintf("spec.ingress[%d]", i), c.peerOf(o), "admits the Raft port %d from everyone: only the cluster's own pods may reach it", model.RaftPort)
			}
			for j, peer := range rule.From {
				if !c.ownPods(peer) && !c.reportedPeer(peer) {
					c.add(o, fmt.Sprintf("spec.ingress[%d].from[%d]", i, j), c.peerOf(o), "admits the Raft port from outside the cluster's pods")
				}
			}
			raftOwn = raftOwn || c.reachesEvery(rule.From, sets)
		}
		httpOpen = httpOpen || allowsPort(rule.Ports, model.HTTPPort, model.HTTPPortName)
	}
	if !raftOwn && !c.reported(o) {
		c.add(o, "spec.ingress", c.peerOf(o), "no rule admits the Raft port from every pod of the cluster: the nodes could not reach each other")
	}
	if !httpOpen {
		c.add(o, "spec.ingress", c.peerOf(o), "no rule admits the HTTP API port: clients could not reach the cluster")
	}
	dns, peers := false, false
	for _, rule := range np.Spec.Egress {
		dns = dns || allowsPort(rule.Ports, 53, "")
		peers = peers || (allowsPort(rule.Ports, model.RaftPort, model.RaftPortName) && c.reachesEvery(rule.To, sets))
	}
	if !dns {
		c.add(o, "spec.egress", c.peerOf(o), "no rule allows DNS (port 53): discovery and every Raft address are DNS names")
	}
	if !peers {
		c.add(o, "spec.egress", c.peerOf(o), "no rule lets the pods reach each other's Raft port")
	}
	c.checkMetricsRule(o, np)
}

// reportedPeer reports a peer that names an instance whose pods are not in the stream, which
// checkNetworkPolicy reports already.
func (c *cluster) reportedPeer(peer networkingv1.NetworkPolicyPeer) bool {
	p := peer.PodSelector
	if p == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || p.MatchLabels[labelInstance] == "" {
		return false
	}
	for _, s := range c.idx.statefulSets[c.ns] {
		if selects(p.MatchLabels, s.sts.Spec.Template.Labels) {
			return false
		}
	}
	return true
}

// reported tells whether an object has a finding already: a rule summary ("no rule admits …")
// is then the consequence of it, not a second break.
func (c *cluster) reported(o *object) bool {
	for _, p := range c.out {
		if p.From == o.ref() {
			return true
		}
	}
	return false
}

// ownPods reports whether a policy peer admits only pods of this cluster.
func (c *cluster) ownPods(peer networkingv1.NetworkPolicyPeer) bool {
	if peer.IPBlock != nil || peer.NamespaceSelector != nil || peer.PodSelector == nil {
		return false
	}
	if peer.PodSelector.MatchLabels[labelInstance] == c.instance && peer.PodSelector.MatchLabels[labelName] == model.AppName {
		return true
	}
	// A cluster adopted in place (naming: kubernetes-configuration) also admits the pods its
	// StatefulSet's immutable selector selects: those not yet replaced carry only that label.
	for _, s := range c.statefulSets() {
		if sel := s.sts.Spec.Selector; sel != nil && reflect.DeepEqual(peer.PodSelector, sel) {
			return true
		}
	}
	return false
}

// reachesEvery reports whether the peers cover the pods of every StatefulSet (an empty list
// covers everything).
func (c *cluster) reachesEvery(peers []networkingv1.NetworkPolicyPeer, sets []*statefulSet) bool {
	if len(peers) == 0 {
		return true
	}
	for _, s := range sets {
		ok := false
		for _, p := range peers {
			if p.IPBlock != nil || p.NamespaceSelector != nil || p.PodSelector == nil {
				continue
			}
			if sel, err := metav1.LabelSelectorAsSelector(p.PodSelector); err == nil && sel.Matches(labels.Set(s.sts.Spec.Template.Labels)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// allowsPort reports whether a rule's ports include a port, by number or name (no ports: all).
func allowsPort(ports []networkingv1.NetworkPolicyPort, number int32, name string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int && p.EndPort != nil && p.Port.IntVal <= number && number <= *p.EndPort:
			return true
		case p.Port.Type == intstr.Int && p.Port.IntVal == number:
			return true
		case p.Port.Type == intstr.String && name != "" && p.Port.StrVal == name:
			return true
		}
	}
	return false
}

// checkMetricsRule: a PodMonitor of the cluster scrapes a named container port, which the policy
// must admit.
func (c *cluster) checkMetricsRule(o *object, np *networkingv1.NetworkPolicy) {
	for _, pm := range c.objects {
		if pm.kind != "PodMonitor" {
			continue
		}
		var mon struct {
			Spec struct {
				Endpoints []struct {
					Port string `json:"port"`
				} `json:"podMetricsEndpoints"`
			} `json:"spec"`
		}
		if !pm.as(&mon) {
			continue
		}
		for _, ep := range mon.Spec.Endpoints {
			number := c.containerPort(ep.Port)
			admitted := false
			for _, rule := range np.Spec.Ingress {
				admitted = admitted || allowsPort(rule.Ports, number, ep.Port)
			}
			if !admitted {
				c.add(o, "spec.ingress", pm.ref(), "no rule admits the metrics port %q the PodMonitor scrapes", ep.Port)
			}
		}
	}
}

func (c *cluster) containerPort(name string) int32 {
	for _, s := range c.statefulSets() {
		for _, ct := range s.sts.Spec.Template.Spec.Containers {
			for _, p := range ct.Ports {
				if p.Name == name {
					return p.ContainerPort
				}
			}
		}
	}
	return -1
}

// checkLeastPrivilege: the shrink Job's Role names what it may touch; wildcards and Secrets are
// more than it needs.
func (c *cluster) checkLeastPrivilege(o *object, role *rbacv1.Role) {
	for i, r := range role.Rules {
		var why []string
		for _, list := range []struct {
			name string
			v    []string
		}{{"apiGroups", r.APIGroups}, {"resources", r.Resources}, {"verbs", r.Verbs}} {
			if slices.Contains(list.v, "*") {
				why = append(why, list.name+" has *")
			}
		}
		if slices.Contains(r.Resources, "secrets") {
			why = append(why, "grants Secrets")
		}
		if len(why) > 0 {
			c.add(o, fmt.Sprintf("rules[%d]", i), o.ref(), "%s: the shrink Job's Role grants only what it uses", strings.Join(why, ", "))
		}
	}
}

// checkCredentials: passwords and keys reach the pods from Secrets, never as values in the pod
// spec.
func (c *cluster) checkCredentials(o *object, field string, pod *corev1.PodSpec) {
	for _, ct := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		for _, e := range ct.Env {
			if e.Value != "" && slices.Contains([]string{model.EnvPassword, model.EnvS3AccessKey, model.EnvS3SecretKey}, e.Name) {
				c.add(o, fmt.Sprintf("%s.containers[%s].env[%s].value", field, ct.Name, e.Name), o.ref(), "a credential written into the pod spec: take it from a Secret (valueFrom.secretKeyRef)")
			}
		}
	}
}

// checkStoredCredentials: the backup and restore files in the ConfigMap name credentials only as
// $VARIABLES that rqlited expands from Secret-backed environment variables.
func (c *cluster) checkStoredCredentials(o *object, cm *corev1.ConfigMap) {
	for _, key := range []string{model.KeyBackup, model.KeyRestore} {
		data, ok := cm.Data[key]
		if !ok {
			continue
		}
		var f struct {
			Sub map[string]any `json:"sub"`
		}
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			c.add(o, "data."+key, o.ref(), "is not JSON: %v", err)
			continue
		}
		for k, env := range map[string]string{"access_key_id": model.EnvS3AccessKey, "secret_access_key": model.EnvS3SecretKey} {
			if v, _ := f.Sub[k].(string); v != "" && v != "$"+env {
				c.add(o, fmt.Sprintf("data.%s sub.%s", key, k), o.ref(), "holds a credential in a ConfigMap: write $%s and give the pods the Secret", env)
			}
		}
	}
}

// checkCertificate: a cert-manager Certificate mounted as a node certificate names the server name
// every node verifies (-node-verify-server-name) and its pods' Raft names; one mounted as the HTTP
// certificate names the client Services of the pods.
func (c *cluster) checkCertificate(o *object) {
	var cert struct {
		Spec struct {
			SecretName string   `json:"secretName"`
			CommonName string   `json:"commonName"`
			DNSNames   []string `json:"dnsNames"`
		} `json:"spec"`
	}
	if !o.as(&cert) || cert.Spec.SecretName == "" {
		return
	}
	covers := func(name string) bool {
		for _, d := range append(cert.Spec.DNSNames, cert.Spec.CommonName) {
			if d == name || (strings.HasPrefix(d, "*.") && strings.Contains(name, ".") && name[strings.Index(name, ".")+1:] == d[2:]) {
				return true
			}
		}
		return false
	}
	for _, s := range c.statefulSets() {
		ct := rqliteContainer(&s.sts.Spec.Template.Spec)
		if ct == nil {
			continue
		}
		cl := parseCommandLine(ct.Args, rqlitedBoolFlags)
		var names []string
		switch {
		case mountsSecret(s, ct, cert.Spec.SecretName, cl, "-node-cert"):
			if v, ok := cl.flag("-node-verify-server-name"); ok {
				names = append(names, v)
			}
			names = append(names, "*."+c.headless(s))
		case mountsSecret(s, ct, cert.Spec.SecretName, cl, "-http-cert"):
			for _, svc := range c.objects {
				var sv corev1.Service
				if svc.kind == "Service" && svc.as(&sv) && sv.Spec.ClusterIP != corev1.ClusterIPNone && selectsNonEmpty(sv.Spec.Selector, s.sts.Spec.Template.Labels) {
					names = append(names, svc.name)
				}
			}
		}
		for _, n := range names {
			if !covers(n) {
				c.add(o, "spec.dnsNames", s.obj.ref(), "does not cover %q, a name the pods of the StatefulSet are reached or verified by", n)
			}
		}
	}
}

// mountsSecret reports whether the file a TLS flag names lies in a volume of the Secret.
func mountsSecret(s *statefulSet, ct *corev1.Container, secret string, cl commandLine, flag string) bool {
	file, ok := cl.flag(flag)
	if !ok {
		return false
	}
	for _, m := range ct.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range s.sts.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == secret {
				return true
			}
		}
	}
	return false
}

// checkJob checks the shrink Job's pod like the StatefulSets' pods.
func (c *cluster) checkJob(o *object, job *batchv1.Job) {
	c.checkPodSpec(o, "spec.template.spec", &job.Spec.Template.Spec)
	c.checkShrinkArgs(o, &job.Spec.Template.Spec)
	c.checkPodSecurity(o, "spec.template.spec", &job.Spec.Template.Spec)
	c.checkCredentials(o, "spec.template.spec", &job.Spec.Template.Spec)
}
