package verify

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/model"
	corev1 "k8s.io/api/core/v1"
)

// The checks in this file hold a StatefulSet's pods to what the README promises about them
// (docs/verify.md lists every promise and the check that keeps it). A patch, a hand edit or a
// transformer on a layer above can break each of them while every name still resolves.

// checkPool checks one StatefulSet's pods: their role in Raft, identity, data, counts, probes,
// security and recovery wiring.
func (c *cluster) checkPool(s *statefulSet) {
	ct := rqliteContainer(&s.sts.Spec.Template.Spec)
	if ct == nil {
		return
	}
	field := fmt.Sprintf("spec.template.spec.containers[%s]", ct.Name)
	cl := parseCommandLine(ct.Args, rqlitedBoolFlags)
	c.checkPoolRole(s, field+".args", cl)
	c.checkIdentity(s, field, ct, cl)
	c.checkDataDir(s, field, ct, cl)
	c.checkProbes(s, field, ct, cl)
	c.checkPodSecurity(s.obj, "spec.template.spec", &s.sts.Spec.Template.Spec)
	c.checkCredentials(s.obj, "spec.template.spec", &s.sts.Spec.Template.Spec)
	c.checkGracePeriod(s, ct)
	c.checkFeatureFlags(s, field+".args", cl)
	if isVoter(s) {
		c.checkRecoveryWiring(s)
	}
}

// checkPoolRole: voters start in parallel and bootstrap from the ConfigMap's count; read-only
// nodes join as non-voters and leave the configuration when their pod stops.
func (c *cluster) checkPoolRole(s *statefulSet, field string, cl commandLine) {
	o := s.obj
	nonVoter, _ := cl.flag(flagNonVoter)
	removeOnStop, _ := cl.flag("-raft-cluster-remove-shutdown")
	if !isVoter(s) {
		if nonVoter != "true" {
			c.add(o, field+" "+flagNonVoter, o.ref(), "the read-only pool runs without -raft-non-voter=true (it is %s): its nodes would join as voters, changing the quorum with every read replica", describeFlag(nonVoter))
		}
		if removeOnStop != "true" {
			c.add(o, field+" -raft-cluster-remove-shutdown", o.ref(), "the read-only pool runs without -raft-cluster-remove-shutdown=true (it is %s): scaling the pool down would leave unreachable members in the Raft configuration", describeFlag(removeOnStop))
		}
		if _, ok := cl.flag("-bootstrap-expect"); ok {
			c.add(o, field+" -bootstrap-expect", o.ref(), "a read-only node must not take part in bootstrapping the cluster")
		}
		return
	}
	if nonVoter == "true" {
		c.add(o, field+" "+flagNonVoter, o.ref(), "the voters run with -raft-non-voter=true: no node could vote, so the cluster never has a leader")
	}
	if s.sts.Spec.PodManagementPolicy != "Parallel" {
		c.add(o, "spec.podManagementPolicy", o.ref(), "is %q, not Parallel: pod 0 must be ready before pod 1 starts, but no voter is ready before bootstrap-expect voters have started, so the cluster never forms", describeFlag(string(s.sts.Spec.PodManagementPolicy)))
	}
	expect, ok := cl.flag("-bootstrap-expect")
	want := "$(" + model.EnvBootstrapExpect + ")"
	switch {
	case !ok:
		c.add(o, field+" -bootstrap-expect", o.ref(), "the voters have no -bootstrap-expect: with DNS discovery a new cluster never bootstraps")
	case expect != want:
		c.add(o, field+" -bootstrap-expect", o.ref(), "is %q, not %s from the ConfigMap: a count in the pod template restarts every pod when the cluster is scaled", expect, want)
	}
}

func describeFlag(v string) string {
	if v == "" {
		return "unset"
	}
	return v
}

// checkIdentity: a node's id is its pod name (peers.json and the shrink Job rely on it), and the
// $(VAR)s in its addresses come from the downward API.
func (c *cluster) checkIdentity(s *statefulSet, field string, ct *corev1.Container, cl commandLine) {
	o := s.obj
	if id, _ := cl.flag("-node-id"); id != "$("+model.EnvPodName+")" {
		c.add(o, field+".args -node-id", o.ref(), "is %q, not $(%s): node ids must be the pod names that peers.json and the shrink Job use", describeFlag(id), model.EnvPodName)
	}
	want := map[string]string{model.EnvPodName: "metadata.name", model.EnvPodNamespace: "metadata.namespace"}
	for name, fieldPath := range want {
		if !strings.Contains(strings.Join(ct.Args, " "), "$("+name+")") {
			continue
		}
		var env *corev1.EnvVar
		for i := range ct.Env {
			if ct.Env[i].Name == name {
				env = &ct.Env[i]
			}
		}
		if env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != fieldPath {
			c.add(o, fmt.Sprintf("%s.env[%s]", field, name), o.ref(), "the args use $(%s), which must come from the downward API (fieldRef %s); otherwise the kubelet leaves it unexpanded or every pod gets the same value", name, fieldPath)
		}
	}
	if mode, ok := cl.flag("-disco-mode"); ok && mode != "dns" {
		c.add(o, field+".args -disco-mode", o.ref(), "is %q, not dns: the nodes discover each other through the A records of the voters' headless Service", mode)
	}
}

// checkDataDir: rqlited's data directory lies on the StatefulSet's volume claim, or a restarted
// pod starts empty and a voter's data is lost.
func (c *cluster) checkDataDir(s *statefulSet, field string, ct *corev1.Container, cl commandLine) {
	o := s.obj
	if len(cl.positional) == 0 {
		c.add(o, field+".args", o.ref(), "rqlited has no data directory argument")
		return
	}
	dir := path.Clean(cl.positional[0])
	var best *corev1.VolumeMount
	for i, m := range ct.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && (best == nil || len(mp) > len(path.Clean(best.MountPath))) {
			best = &ct.VolumeMounts[i]
		}
	}
	claims := map[string]bool{}
	for _, vct := range s.sts.Spec.VolumeClaimTemplates {
		claims[vct.Name] = true
	}
	switch {
	case best == nil:
		c.add(o, field+".args", o.ref(), "the data directory %s is on no volume: it would be lost with the container", dir)
	case !claims[best.Name]:
		c.add(o, fmt.Sprintf("%s.volumeMounts[%s]", field, best.Name), o.ref(), "the data directory %s is on volume %q, not on a volumeClaimTemplate: a restarted pod would start without its data", dir, best.Name)
	}
}

// checkProbes: ready only once caught up with the leader (a lagging node never serves stale
// reads), alive without a leader (restarting would not bring one back). With client mTLS the
// kubelet cannot present a certificate, and the render falls back to TCP checks.
func (c *cluster) checkProbes(s *statefulSet, field string, ct *corev1.Container, cl commandLine) {
	o := s.obj
	_, mTLS := cl.flag("-http-verify-client")
	check := func(name string, p *corev1.Probe, wantParam, why string) {
		f := field + "." + name
		switch {
		case p == nil:
			c.add(o, f, o.ref(), "no %s: %s", name, why)
		case p.HTTPGet != nil:
			u, err := url.Parse(p.HTTPGet.Path)
			if err != nil || u.Path != "/readyz" || !u.Query().Has(wantParam) {
				c.add(o, f+".httpGet.path", o.ref(), "is %q, not /readyz?%s: %s", p.HTTPGet.Path, wantParam, why)
			}
		case p.TCPSocket != nil && mTLS:
		default:
			c.add(o, f, o.ref(), "does not ask rqlited's /readyz?%s: %s", wantParam, why)
		}
	}
	check("readinessProbe", ct.ReadinessProbe, "sync", "a node rejoining with an old volume would serve stale reads before it caught up with the leader")
	check("livenessProbe", ct.LivenessProbe, "noleader", "a node without a leader would be restarted, which cannot bring a leader back")
}

// checkGracePeriod: a read-only node removing itself on SIGTERM with no leader tries for
// model.SelfRemovalSeconds; a shorter grace period kills it midway and leaves it a member.
func (c *cluster) checkGracePeriod(s *statefulSet, ct *corev1.Container) {
	if isVoter(s) {
		return
	}
	var sleep int64
	if l := ct.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		sleep = l.PreStop.Sleep.Seconds
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := s.sts.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if need := sleep + model.SelfRemovalSeconds; grace < need {
		c.add(s.obj, "spec.template.spec.terminationGracePeriodSeconds", s.obj.ref(), "is %d s: the preStop sleep (%d s) and a node removing itself without a leader (%d s) need %d s", grace, sleep, model.SelfRemovalSeconds, need)
	}
}

// checkFeatureFlags: backups run on the leader, so only voters upload; an auth cluster needs
// -join-as to let nodes join; a node TLS server name names the voters' headless Service, which
// every node's certificate covers.
func (c *cluster) checkFeatureFlags(s *statefulSet, field string, cl commandLine) {
	o := s.obj
	if _, ok := cl.flag("-auto-backup"); ok && !isVoter(s) {
		c.add(o, field+" -auto-backup", o.ref(), "read-only nodes never lead, so they must not carry the backup configuration")
	}
	if _, ok := cl.flag("-auth"); ok {
		if v, _ := cl.flag("-join-as"); v == "" {
			c.add(o, field+" -join-as", o.ref(), "-auth is set but -join-as is not: nodes could not join the cluster")
		}
	}
	if name, ok := cl.flag("-node-verify-server-name"); ok {
		for _, v := range c.statefulSets() {
			if isVoter(v) && c.headless(v) != name {
				c.add(o, field+" -node-verify-server-name", Ref{Kind: "Service", Namespace: o.ns, Name: name}, "is not the voters' headless Service %q that the node certificate names", c.headless(v))
			}
		}
	}
}

// checkRecoveryWiring: the voters install peers.json from the ConfigMap while its static-peers
// switch is on; without that init container the recovery runbook does nothing.
func (c *cluster) checkRecoveryWiring(s *statefulSet) {
	pod := &s.sts.Spec.Template.Spec
	for _, ic := range pod.InitContainers {
		for _, e := range ic.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Key == model.KeyStaticPeers {
				return
			}
		}
	}
	c.add(s.obj, "spec.template.spec.initContainers", s.obj.ref(), "no init container reads %s from the ConfigMap to install peers.json: recovery from quorum loss (spec.recovery.staticPeers) would do nothing", model.KeyStaticPeers)
}

// checkPodSecurity holds every container to the Pod Security "restricted" standard, and the pods
// of the function to no API token; the containers the function runs also keep a read-only root
// filesystem.
func (c *cluster) checkPodSecurity(o *object, field string, pod *corev1.PodSpec) {
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if o.kind == "StatefulSet" && (pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken) {
		c.add(o, field+".automountServiceAccountToken", o.ref(), "is not false: rqlited needs no Kubernetes API token, and a mounted one is a credential any process in the pod can use")
	}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for i, ct := range all {
		list := "containers"
		if i < len(pod.InitContainers) {
			list = "initContainers"
		}
		f := fmt.Sprintf("%s.%s[%s].securityContext", field, list, ct.Name)
		sc := ct.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		var problems []string
		if sc.Privileged != nil && *sc.Privileged {
			problems = append(problems, "privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			problems = append(problems, "allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) {
			problems = append(problems, "capabilities.drop lacks ALL")
		} else {
			for _, a := range sc.Capabilities.Add {
				if a != "NET_BIND_SERVICE" {
					problems = append(problems, "adds capability "+string(a))
				}
			}
		}
		if !boolOr(sc.RunAsNonRoot, psc.RunAsNonRoot) {
			problems = append(problems, "runAsNonRoot is not true")
		}
		if uid := sc.RunAsUser; (uid != nil && *uid == 0) || (uid == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0) {
			problems = append(problems, "runs as uid 0")
		}
		if !seccompOK(sc.SeccompProfile, psc.SeccompProfile) {
			problems = append(problems, "no RuntimeDefault or Localhost seccomp profile")
		}
		if functionContainer(ct.Name) && (sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem) {
			problems = append(problems, "readOnlyRootFilesystem is not true")
		}
		if len(problems) > 0 {
			c.add(o, f, o.ref(), "%s: the pods break the Pod Security \"restricted\" standard the function renders them to", strings.Join(problems, ", "))
		}
	}
}

// functionContainer reports the containers the function itself renders into rqlite's pods (the
// user's sidecars may need a writable root filesystem; the standard does not forbid it).
func functionContainer(name string) bool {
	return name == model.ContainerName || name == model.PeersInitName
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if c == "ALL" {
			return true
		}
	}
	return false
}

func boolOr(container, pod *bool) bool {
	if container != nil {
		return *container
	}
	return pod != nil && *pod
}

func seccompOK(container, pod *corev1.SeccompProfile) bool {
	p := container
	if p == nil {
		p = pod
	}
	return p != nil && (p.Type == corev1.SeccompProfileTypeRuntimeDefault || p.Type == corev1.SeccompProfileTypeLocalhost)
}
