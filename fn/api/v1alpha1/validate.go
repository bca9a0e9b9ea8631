package v1alpha1

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxNameLength keeps every derived name valid: the read-only StatefulSet is "<name>-readonly" and
// a StatefulSet's pods carry a controller-revision-hash label "<sts>-<10 chars>" that must fit in
// 63 characters, which leaves 52 for the StatefulSet and 43 for the cluster name; the shrink Job
// "<name>-shrink-to-<n>" stays under that too.
const MaxNameLength = 40

// MaxVoters bounds the voting membership. Every write is acknowledged by a majority, so even this
// is far past any sensible cluster; the bound exists so a typo (30000 for 3) is an error, not a
// render with a peers.json of thirty thousand entries.
const MaxVoters = 99

// ReservedVolumes are the pod volumes the function renders itself.
var ReservedVolumes = []string{"data", "tmp", "config", "node-tls", "client-tls", "auth", "gcs-credentials"}

// ReservedEnv are the environment variables the function renders itself.
var ReservedEnv = []string{"RQLITE_PASSWORD", "POD_NAME", "POD_NAMESPACE", "RQLITE_BOOTSTRAP_EXPECT", "RQLITE_STATIC_PEERS", "RQLITE_S3_ACCESS_KEY_ID", "RQLITE_S3_SECRET_ACCESS_KEY"}

// Validate checks a defaulted spec and returns every problem, errors and warnings, at once.
func Validate(s *RqliteSpec) Problems {
	var ps Problems
	if s.APIVersion != APIVersion {
		ps.add("apiVersion", fmt.Sprintf("unsupported apiVersion %q", s.APIVersion), "write apiVersion: "+APIVersion)
	}
	if s.Kind != Kind {
		ps.add("kind", fmt.Sprintf("unsupported kind %q", s.Kind), "write kind: "+Kind)
	}
	validateMeta(&ps, &s.Metadata)
	c := &s.Spec
	validateImage(&ps, "spec.image", c.Image)
	if !slices.Contains([]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}, c.ImagePullPolicy) {
		ps.add("spec.imagePullPolicy", fmt.Sprintf("unknown pull policy %q", c.ImagePullPolicy), "write Always, IfNotPresent or Never")
	}
	for i, sec := range c.ImagePullSecrets {
		dns1123Subdomain(&ps, fmt.Sprintf("spec.imagePullSecrets[%d].name", i), sec.Name)
	}
	if errs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(errs) > 0 {
		ps.add("spec.clusterDomain", fmt.Sprintf("%q is not a DNS domain: %s", c.ClusterDomain, strings.Join(errs, "; ")), "write the cluster's DNS domain, e.g. cluster.local")
	}

	voters := *c.Voters.Replicas
	switch {
	case voters < 1:
		ps.add("spec.voters.replicas", fmt.Sprintf("%d voters cannot form a cluster", voters), "write 1 or more (3 or 5 for production)")
	case voters > MaxVoters:
		ps.add("spec.voters.replicas", fmt.Sprintf("%d voters is beyond what a Raft cluster can run: every write waits for a majority", voters), fmt.Sprintf("write at most %d; add read capacity with spec.readOnly", MaxVoters))
	case voters%2 == 0:
		ps.warn("spec.voters.replicas", fmt.Sprintf("%d voters tolerate no more failures than %d", voters, voters-1), fmt.Sprintf("write %d or %d", voters-1, voters+1))
	case voters == 1:
		ps.warn("spec.voters.replicas", "a single voter has no redundancy: losing its volume loses the database", "write 3 for production")
	}
	if voters > 9 && voters <= MaxVoters {
		ps.warn("spec.voters.replicas", fmt.Sprintf("%d voters slow down every write (each needs a majority of acknowledgements)", voters), "keep 3, 5 or 7 voters and add a read-only pool for read capacity")
	}
	validatePool(&ps, "spec.voters", &c.Voters.Pool)

	if ro := c.ReadOnly; ro != nil {
		validateReadOnly(&ps, ro)
	}

	st := &c.Storage
	if st.StorageClassName != nil && *st.StorageClassName != "" {
		dns1123Subdomain(&ps, "spec.storage.storageClassName", *st.StorageClassName)
	}
	if st.Size.Sign() <= 0 {
		ps.add("spec.storage.size", fmt.Sprintf("%s is not a usable volume size", st.Size.String()), `write a positive size such as "10Gi"`)
	}
	for _, f := range []struct{ field, v string }{{"whenDeleted", st.RetentionPolicy.WhenDeleted}, {"whenScaled", st.RetentionPolicy.WhenScaled}} {
		if f.v != "Retain" && f.v != "Delete" {
			ps.add("spec.storage.retentionPolicy."+f.field, fmt.Sprintf("unknown policy %q", f.v), "write Retain or Delete")
		}
	}

	switch c.Service.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	default:
		ps.add("spec.service.type", fmt.Sprintf("unsupported Service type %q", c.Service.Type), "write ClusterIP, NodePort or LoadBalancer")
	}
	validateAnnotations(&ps, "spec.service.annotations", c.Service.Annotations)
	for i, cidr := range c.Service.LoadBalancerSourceRanges {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			ps.add(fmt.Sprintf("spec.service.loadBalancerSourceRanges[%d]", i), fmt.Sprintf("%q is not a CIDR", cidr), "write e.g. 10.0.0.0/8")
		}
	}
	if len(c.Service.LoadBalancerSourceRanges) > 0 && c.Service.Type != corev1.ServiceTypeLoadBalancer {
		ps.add("spec.service.loadBalancerSourceRanges", "only used by a LoadBalancer Service", "set spec.service.type: LoadBalancer or remove the ranges")
	}
	for i, p := range c.NetworkPolicy.ClientFrom {
		path := fmt.Sprintf("spec.networkPolicy.clientFrom[%d]", i)
		n := 0
		for _, set := range []bool{p.PodSelector != nil, p.NamespaceSelector != nil, p.IPBlock != nil} {
			if set {
				n++
			}
		}
		if n == 0 {
			ps.add(path, "empty peer would allow everyone", "set podSelector, namespaceSelector or ipBlock")
		}
		if p.IPBlock != nil && (p.PodSelector != nil || p.NamespaceSelector != nil) {
			ps.add(path+".ipBlock", "ipBlock cannot be combined with selectors in one peer", "write it as a separate list entry")
		}
		if p.IPBlock != nil {
			if _, _, err := net.ParseCIDR(p.IPBlock.CIDR); err != nil {
				ps.add(path+".ipBlock.cidr", fmt.Sprintf("%q is not a CIDR", p.IPBlock.CIDR), "write e.g. 10.0.0.0/8")
			}
		}
	}
	if len(c.NetworkPolicy.ClientFrom) > 0 && !*c.NetworkPolicy.Enabled {
		ps.add("spec.networkPolicy.clientFrom", "has no effect while spec.networkPolicy.enabled is false", "remove clientFrom or enable the policy")
	}
	validateImage(&ps, "spec.shrink.image", c.Shrink.Image)
	switch c.Naming {
	case NamingDefault:
	case NamingHelmChart, NamingKubernetesConfiguration:
		if s.Metadata.Namespace == "" {
			ps.add("metadata.namespace", fmt.Sprintf("%s naming writes fully qualified Raft addresses, as the adopted cluster's nodes advertise them, which name the namespace", c.Naming),
				"set metadata.namespace to the namespace the cluster runs in")
		}
	default:
		ps.add("spec.naming", fmt.Sprintf("unknown naming %q", c.Naming), "write default, helm-chart or kubernetes-configuration")
	}
	if c.Naming == NamingKubernetesConfiguration {
		// The voters' selector is app=<name>: a label "app" of the user's would be overridden or,
		// on the read-only pods, put them under the voters' StatefulSet, Services and PDB.
		for _, l := range []struct {
			path string
			m    map[string]string
		}{{"metadata.labels", s.Metadata.Labels}, {"spec.voters.podLabels", c.Voters.PodLabels}} {
			if _, ok := l.m[GuideAppLabel]; ok {
				ps.add(l.path+"."+GuideAppLabel, "with naming: kubernetes-configuration the voters are selected by app=<name>, which the function sets", "use another label key")
			}
		}
		if ro := c.ReadOnly; ro != nil {
			if _, ok := ro.PodLabels[GuideAppLabel]; ok {
				ps.add("spec.readOnly.podLabels."+GuideAppLabel, "with naming: kubernetes-configuration the voters are selected by app=<name>: read-only pods with that label would be counted as voters", "use another label key")
			}
		}
	}
	if c.HelmRelease != "" {
		if c.Naming != NamingHelmChart {
			ps.add("spec.helmRelease", "only used with naming: helm-chart", "set spec.naming: helm-chart or remove helmRelease")
		}
		if errs := validation.IsValidLabelValue(c.HelmRelease); len(errs) > 0 || len(c.HelmRelease) > 53 {
			ps.add("spec.helmRelease", fmt.Sprintf("%q is not a Helm release name", c.HelmRelease), "write the release name shown by helm list")
		}
	}
	validateTLS(&ps, s)
	validateMetrics(&ps, c)
	validateAuth(&ps, c)
	validateBackup(&ps, c.Backup)
	validateAnnotations(&ps, "spec.serviceAccount.annotations", c.ServiceAccount.Annotations)
	if *c.Shrink.Enabled && s.Metadata.Namespace == "" {
		ps.warn("metadata.namespace", "the voter shrink Job's RoleBinding must name its ServiceAccount's namespace; without one it names \"default\", which only kustomize's namespace transformer rewrites",
			"set metadata.namespace (or kustomize `namespace:` in the kustomization that produces the spec)")
	}
	return ps
}

func validateMeta(ps *Problems, m *ObjectMeta) {
	switch {
	case m.Name == "":
		ps.add("metadata.name", "the cluster needs a name", "write e.g. name: rqlite")
	case len(m.Name) > MaxNameLength:
		ps.add("metadata.name", fmt.Sprintf("%q is %d characters; derived pod and Service names need it to be at most %d", m.Name, len(m.Name), MaxNameLength), "write a shorter name")
	default:
		// Service names must be DNS-1035 labels (start with a letter); every derived name starts
		// with the cluster name, so the cluster name must be one too.
		if errs := validation.IsDNS1035Label(m.Name); len(errs) > 0 {
			ps.add("metadata.name", fmt.Sprintf("%q is not a valid name: %s", m.Name, strings.Join(errs, "; ")), "write lower-case letters, digits and '-', starting with a letter, e.g. rqlite")
		}
	}
	if m.Namespace != "" {
		if errs := validation.IsDNS1123Label(m.Namespace); len(errs) > 0 {
			ps.add("metadata.namespace", fmt.Sprintf("%q is not a valid namespace: %s", m.Namespace, strings.Join(errs, "; ")), "write lower-case letters, digits and '-'")
		}
	}
	validateUserLabels(ps, "metadata.labels", m.Labels)
	validateSpecAnnotations(ps, m.Annotations)
}

func validateReadOnly(ps *Problems, ro *ReadOnlyPool) {
	const path = "spec.readOnly"
	if ro.Replicas != nil && ro.Autoscaling != nil {
		ps.add(path, "replicas and autoscaling are mutually exclusive", "remove replicas to let the HorizontalPodAutoscaler size the pool, or remove autoscaling")
	}
	if ro.Replicas != nil && *ro.Replicas < 0 {
		ps.add(path+".replicas", fmt.Sprintf("%d is negative", *ro.Replicas), "write 0 or more")
	}
	if a := ro.Autoscaling; a != nil {
		if a.MinReplicas < 1 {
			ps.add(path+".autoscaling.minReplicas", fmt.Sprintf("%d is below 1", a.MinReplicas), "write 1 or more")
		}
		if a.MaxReplicas < a.MinReplicas {
			ps.add(path+".autoscaling.maxReplicas", fmt.Sprintf("maxReplicas %d is below minReplicas %d", a.MaxReplicas, a.MinReplicas), fmt.Sprintf("write %d or more", max(a.MinReplicas, 1)))
		}
		if t := *a.TargetCPUUtilizationPercentage; t < 1 || t > 100 {
			ps.add(path+".autoscaling.targetCPUUtilizationPercentage", fmt.Sprintf("%d is not a percentage", t), "write a value from 1 to 100, e.g. 70")
		}
	}
	validatePool(ps, path, &ro.Pool)
}

func validatePool(ps *Problems, path string, p *Pool) {
	validateResources(ps, path+".resources", p.Resources)
	sch := &p.Scheduling
	switch sch.AntiAffinity {
	case AntiAffinityPreferred, AntiAffinityRequired, AntiAffinityNone:
	default:
		ps.add(path+".scheduling.antiAffinity", fmt.Sprintf("unknown mode %q", sch.AntiAffinity), "write preferred, required or none")
	}
	if sch.Affinity != nil && sch.AntiAffinity != AntiAffinityPreferred {
		ps.add(path+".scheduling.antiAffinity", "ignored because scheduling.affinity replaces the default affinity", "remove antiAffinity, or remove affinity")
	}
	for _, k := range sortedKeys(sch.NodeSelector) {
		validateLabel(ps, path+".scheduling.nodeSelector", k, sch.NodeSelector[k])
	}
	if sch.PriorityClassName != "" {
		dns1123Subdomain(ps, path+".scheduling.priorityClassName", sch.PriorityClassName)
	}
	for i, tsc := range sch.TopologySpreadConstraints {
		tp := fmt.Sprintf("%s.scheduling.topologySpreadConstraints[%d]", path, i)
		if tsc.MaxSkew < 1 {
			ps.add(tp+".maxSkew", "must be at least 1", "write 1")
		}
		if tsc.TopologyKey == "" {
			ps.add(tp+".topologyKey", "is required", "write e.g. topology.kubernetes.io/zone")
		}
		if tsc.WhenUnsatisfiable != corev1.DoNotSchedule && tsc.WhenUnsatisfiable != corev1.ScheduleAnyway {
			ps.add(tp+".whenUnsatisfiable", fmt.Sprintf("unknown value %q", tsc.WhenUnsatisfiable), "write DoNotSchedule or ScheduleAnyway")
		}
	}
	for _, probe := range []struct {
		name string
		o    *ProbeOverride
	}{{"readiness", p.Probes.Readiness}, {"liveness", p.Probes.Liveness}, {"startup", p.Probes.Startup}} {
		name, o := probe.name, probe.o
		if o == nil {
			continue
		}
		pp := path + ".probes." + name
		for _, f := range []struct {
			field string
			v     *int32
		}{{"initialDelaySeconds", o.InitialDelaySeconds}, {"periodSeconds", o.PeriodSeconds}, {"timeoutSeconds", o.TimeoutSeconds}, {"failureThreshold", o.FailureThreshold}, {"successThreshold", o.SuccessThreshold}} {
			field, v := f.field, f.v
			if v == nil {
				continue
			}
			minimum := int32(1)
			if field == "initialDelaySeconds" {
				minimum = 0
			}
			if *v < minimum {
				ps.add(pp+"."+field, fmt.Sprintf("%d is below %d", *v, minimum), fmt.Sprintf("write %d or more", minimum))
			}
		}
		if o.SuccessThreshold != nil && *o.SuccessThreshold != 1 && name != "readiness" {
			ps.add(pp+".successThreshold", "Kubernetes requires 1 for liveness and startup probes", "write 1 or remove it")
		}
	}
	validateExtraArgs(ps, path, p.ExtraArgs)
	seenEnv := map[string]bool{}
	for i, e := range p.ExtraEnv {
		ep := fmt.Sprintf("%s.extraEnv[%d].name", path, i)
		if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
			ps.add(ep, fmt.Sprintf("%q is not a valid variable name", e.Name), "write letters, digits and '_'")
		}
		if slices.Contains(ReservedEnv, e.Name) {
			ps.add(ep, fmt.Sprintf("%s is set by rqlite-krm", e.Name), "choose another name")
		}
		if seenEnv[e.Name] {
			ps.add(ep, fmt.Sprintf("%s is listed twice", e.Name), "keep one entry")
		}
		seenEnv[e.Name] = true
	}
	volumes := map[string]bool{}
	for _, v := range ReservedVolumes {
		volumes[v] = true
	}
	for i, v := range p.ExtraVolumes {
		vp := fmt.Sprintf("%s.extraVolumes[%d].name", path, i)
		if errs := validation.IsDNS1123Label(v.Name); len(errs) > 0 {
			ps.add(vp, fmt.Sprintf("%q is not a valid volume name", v.Name), "write lower-case letters, digits and '-'")
		} else if volumes[v.Name] {
			ps.add(vp, fmt.Sprintf("volume %q is already defined (reserved: %s)", v.Name, strings.Join(ReservedVolumes, ", ")), "choose another name")
		}
		volumes[v.Name] = true
	}
	for i, m := range p.ExtraVolumeMounts {
		mp := fmt.Sprintf("%s.extraVolumeMounts[%d]", path, i)
		if !volumes[m.Name] || slices.Contains(ReservedVolumes, m.Name) {
			ps.add(mp+".name", fmt.Sprintf("no extra volume named %q", m.Name), "add it to extraVolumes or fix the name")
		}
		if !strings.HasPrefix(m.MountPath, "/") {
			ps.add(mp+".mountPath", fmt.Sprintf("%q is not an absolute path", m.MountPath), "write an absolute path")
		} else if reservedPath(m.MountPath) {
			ps.add(mp+".mountPath", fmt.Sprintf("%s is used by rqlite-krm", m.MountPath), "mount somewhere else, e.g. /extra/<name>")
		}
	}
	containers := map[string]bool{"rqlite": true, "install-peers": true, "metrics": true}
	for _, list := range []struct {
		field string
		cs    []corev1.Container
	}{{"extraInitContainers", p.ExtraInitContainers}, {"extraContainers", p.ExtraContainers}} {
		for i, ctr := range list.cs {
			cp := fmt.Sprintf("%s.%s[%d]", path, list.field, i)
			if errs := validation.IsDNS1123Label(ctr.Name); len(errs) > 0 {
				ps.add(cp+".name", fmt.Sprintf("%q is not a valid container name", ctr.Name), "write lower-case letters, digits and '-'")
			} else if containers[ctr.Name] {
				ps.add(cp+".name", fmt.Sprintf("container %q is already defined", ctr.Name), "choose another name")
			}
			containers[ctr.Name] = true
			if ctr.Image == "" {
				ps.add(cp+".image", "is required", "name the container's image")
			}
			validateRestricted(ps, cp+".securityContext", ctr.SecurityContext)
		}
	}
	validateUserLabels(ps, path+".podLabels", p.PodLabels)
	validateAnnotations(ps, path+".podAnnotations", p.PodAnnotations)
}

// reservedPath reports paths the rendered pods mount themselves (/rqlite and /config hold data,
// configuration and secrets in either naming style; /tmp is scratch space).
func reservedPath(p string) bool {
	for _, r := range []string{"/rqlite", "/config", "/tmp"} {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

func validateResources(ps *Problems, path string, r *corev1.ResourceRequirements) {
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, k := range sortedKeys(list.rl) {
			q := list.rl[corev1.ResourceName(k)]
			if q.Sign() < 0 {
				ps.add(path+"."+list.name+"."+k, fmt.Sprintf("%s is negative", q.String()), "write a positive quantity")
			}
		}
	}
	for _, k := range sortedKeys(r.Requests) {
		req := r.Requests[corev1.ResourceName(k)]
		if lim, ok := r.Limits[corev1.ResourceName(k)]; ok && req.Cmp(lim) > 0 {
			ps.add(path+".requests."+k, fmt.Sprintf("request %s is above the limit %s", req.String(), lim.String()), fmt.Sprintf("write at most %s, or raise resources.limits.%s", lim.String(), k))
		}
	}
	if lim, ok := r.Limits[corev1.ResourceMemory]; ok && lim.Cmp(resource.MustParse("64Mi")) < 0 {
		ps.warn(path+".limits.memory", fmt.Sprintf("%s is too little for rqlited", lim.String()), "write at least 128Mi")
	}
}

func validateImage(ps *Problems, path, image string) {
	ref, err := parseImageRef(image)
	if err != nil {
		ps.add(path, fmt.Sprintf("%q is not an image reference: %v", image, err), "write e.g. "+DefaultImage)
		return
	}
	switch {
	case ref.tag == "" && ref.digest == "":
		ps.add(path, fmt.Sprintf("%q has no tag or digest, so every node could run a different release", image), "pin a release, e.g. "+DefaultImage)
	case ref.tag == "latest" && ref.digest == "":
		ps.add(path, fmt.Sprintf("%q floats with every release", image), "pin a release, e.g. "+DefaultImage)
	}
}

func validateLabel(ps *Problems, path, k, v string) {
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		ps.add(path+"."+k, fmt.Sprintf("%q is not a valid label key: %s", k, strings.Join(errs, "; ")), "")
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		ps.add(path+"."+k, fmt.Sprintf("%q is not a valid label value: %s", v, strings.Join(errs, "; ")), "")
	}
}

func validateAnnotations(ps *Problems, path string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		if errs := validation.IsQualifiedName(strings.ToLower(k)); len(errs) > 0 {
			ps.add(path+"."+k, fmt.Sprintf("%q is not a valid annotation key: %s", k, strings.Join(errs, "; ")), "")
		}
	}
}

func dns1123Subdomain(ps *Problems, path, v string) {
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		ps.add(path, fmt.Sprintf("%q is not a valid name: %s", v, strings.Join(errs, "; ")), "write lower-case letters, digits, '-' and '.'")
	}
}

func validateTLS(ps *Problems, s *RqliteSpec) {
	t := s.Spec.TLS
	if t == nil {
		return
	}
	if t.Node == nil && t.Client == nil {
		ps.add("spec.tls", "neither node nor client TLS is configured", "set spec.tls.node and/or spec.tls.client, or remove spec.tls")
	}
	for _, side := range []struct {
		name string
		cfg  *TLSConfig
	}{{"node", t.Node}, {"client", t.Client}} {
		cfg := side.cfg
		if cfg == nil {
			continue
		}
		path := "spec.tls." + side.name
		if cfg.SecretName == "" {
			ps.add(path, "no certificate source", "set secretName (an existing kubernetes.io/tls Secret with ca.crt) or certManager")
		} else {
			dns1123Subdomain(ps, path+".secretName", cfg.SecretName)
		}
		if cm := cfg.CertManager; cm != nil {
			if cm.IssuerRef.Name == "" {
				ps.add(path+".certManager.issuerRef.name", "the issuer is required", "name a cert-manager Issuer or ClusterIssuer")
			}
			if k := cm.IssuerRef.Kind; k != "Issuer" && k != "ClusterIssuer" {
				ps.add(path+".certManager.issuerRef.kind", fmt.Sprintf("unknown issuer kind %q", k), "write Issuer or ClusterIssuer")
			}
			d := checkDuration(ps, path+".certManager.duration", cm.Duration)
			r := checkDuration(ps, path+".certManager.renewBefore", cm.RenewBefore)
			if d > 0 && r > 0 && r >= d {
				ps.add(path+".certManager.renewBefore", fmt.Sprintf("%s is not shorter than the duration %s", cm.RenewBefore, cm.Duration), "renew well before the certificate expires, e.g. a third of its duration")
			}
			if s.Metadata.Namespace == "" {
				msg := "without metadata.namespace the certificate cannot name the pods' fully qualified DNS names"
				if side.name == "client" {
					// Clients, and the shrink Job, reach the leader at its advertised fully
					// qualified name: a certificate without it fails their verification.
					ps.add(path+".certManager", msg+", which clients following a leader redirect dial", "set metadata.namespace")
				} else {
					ps.warn(path+".certManager", msg, "set metadata.namespace")
				}
			}
		}
	}
	if t.Client != nil && t.Client.VerifyClient {
		ps.warn("spec.tls.client.verifyClient", "kubelet probes cannot present a client certificate, so probes fall back to TCP checks and readiness no longer waits for a node to catch up",
			"prefer spec.auth for client authentication, or accept TCP probes")
	}
}

func validateAuth(ps *Problems, c *ClusterSpec) {
	a := c.Auth
	if a == nil {
		return
	}
	checkSecretKey(ps, "spec.auth.usersSecret", a.UsersSecret)
	if a.JoinAs == "" {
		ps.add("spec.auth.joinAs", "nodes of an authenticated cluster must join as a user", "name a user of the users file with the join, join-read-only and remove permissions")
	}
	if a.ShrinkUser == nil {
		if *c.Shrink.Enabled {
			ps.add("spec.auth.shrinkUser", "the shrink Job needs credentials to remove voters", "set username and passwordSecret of a user with remove, status and leader-ops permissions (or spec.shrink.enabled: false)")
		}
		return
	}
	if a.ShrinkUser.Username == "" {
		ps.add("spec.auth.shrinkUser.username", "is required", "name a user with remove, status and leader-ops permissions")
	}
	checkSecretKey(ps, "spec.auth.shrinkUser.passwordSecret", a.ShrinkUser.PasswordSecret)
}

func validateBackup(ps *Problems, b *BackupSpec) {
	if b == nil {
		return
	}
	const path = "spec.backup"
	if d := checkDuration(ps, path+".interval", b.Interval); d < 0 || (d > 0 && d < time.Second) {
		ps.add(path+".interval", fmt.Sprintf("%s is too short", b.Interval), "write e.g. 1h or 15m")
	}
	switch {
	case b.S3 != nil && b.GCS != nil:
		ps.add(path, "s3 and gcs are mutually exclusive", "keep one storage")
	case b.S3 == nil && b.GCS == nil:
		ps.add(path, "no storage configured", "set spec.backup.s3 or spec.backup.gcs")
	}
	if s3 := b.S3; s3 != nil {
		for _, f := range []struct{ name, v string }{{"bucket", s3.Bucket}, {"path", s3.Path}, {"region", s3.Region}} {
			if f.v == "" {
				ps.add(path+".s3."+f.name, "is required", "")
			}
		}
		if (s3.AccessKeyID == nil) != (s3.SecretAccessKey == nil) {
			ps.add(path+".s3", "accessKeyID and secretAccessKey go together", "set both, or neither to use the pod's workload identity")
		}
		if s3.AccessKeyID != nil {
			checkSecretKey(ps, path+".s3.accessKeyID", *s3.AccessKeyID)
		}
		if s3.SecretAccessKey != nil {
			checkSecretKey(ps, path+".s3.secretAccessKey", *s3.SecretAccessKey)
		}
	}
	if g := b.GCS; g != nil {
		for _, f := range []struct{ name, v string }{{"bucket", g.Bucket}, {"name", g.Name}, {"projectID", g.ProjectID}} {
			if f.v == "" {
				ps.add(path+".gcs."+f.name, "is required", "")
			}
		}
		checkSecretKey(ps, path+".gcs.credentialsSecret", g.CredentialsSecret)
	}
	if r := b.Restore; r != nil {
		checkDuration(ps, path+".restore.timeout", r.Timeout)
	}
}

func checkSecretKey(ps *Problems, path string, r SecretKeyRef) {
	if r.Name == "" {
		ps.add(path+".name", "the Secret name is required", "name a Secret in the cluster's namespace")
	} else {
		dns1123Subdomain(ps, path+".name", r.Name)
	}
	if errs := validation.IsConfigMapKey(r.Key); len(errs) > 0 {
		ps.add(path+".key", fmt.Sprintf("%q is not a valid Secret key", r.Key), "write letters, digits, '-', '_' and '.'")
	}
}

// checkDuration parses an optional Go duration; it returns 0 for empty and -1 for invalid.
func checkDuration(ps *Problems, path, v string) time.Duration {
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		ps.add(path, fmt.Sprintf("%q is not a positive duration", v), "write a Go duration such as 90m, 1h or 2160h")
		return -1
	}
	return d
}

func validateMetrics(ps *Problems, c *ClusterSpec) {
	m := c.Metrics
	if m == nil {
		return
	}
	if !m.Enabled {
		if m.PodMonitor != nil {
			ps.add("spec.metrics.podMonitor", "a PodMonitor without the exporter would scrape nothing", "set spec.metrics.enabled: true")
		}
		return
	}
	validateImage(ps, "spec.metrics.image", m.Image)
	if m.Credentials != nil {
		if m.Credentials.Username == "" {
			ps.add("spec.metrics.credentials.username", "is required", "name a user with the status permission")
		}
		checkSecretKey(ps, "spec.metrics.credentials.passwordSecret", m.Credentials.PasswordSecret)
	} else if c.Auth != nil {
		ps.add("spec.metrics.credentials", "rqlite authentication is on, so the exporter needs a user to read /status", "set username and passwordSecret of a user with the status permission")
	}
	if c.TLS != nil && c.TLS.Client != nil && c.TLS.Client.VerifyClient {
		ps.add("spec.metrics", "the exporter cannot present a client certificate to an API that requires one", "turn off spec.tls.client.verifyClient or the metrics sidecar")
	}
	if pm := m.PodMonitor; pm != nil {
		checkDuration(ps, "spec.metrics.podMonitor.interval", pm.Interval)
		for _, k := range sortedKeys(pm.Labels) {
			validateLabel(ps, "spec.metrics.podMonitor.labels", k, pm.Labels[k])
		}
	}
}

// validateRestricted refuses container settings the "restricted" Pod Security Standard forbids:
// the rendered pods must be admitted in a namespace that enforces it. Unset fields are filled in
// by the renderer.
func validateRestricted(ps *Problems, path string, sc *corev1.SecurityContext) {
	if sc == nil {
		return
	}
	const fix = "remove it: the pods meet the restricted Pod Security Standard"
	if sc.Privileged != nil && *sc.Privileged {
		ps.add(path+".privileged", "privileged containers are not allowed", fix)
	}
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		ps.add(path+".allowPrivilegeEscalation", "privilege escalation is not allowed", fix)
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		ps.add(path+".runAsNonRoot", "containers must run as non-root", fix)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		ps.add(path+".runAsUser", "uid 0 is root", "run as a non-zero uid, or remove it to inherit the pod's")
	}
	if sc.Capabilities != nil {
		for i, c := range sc.Capabilities.Add {
			if c != "NET_BIND_SERVICE" {
				ps.add(fmt.Sprintf("%s.capabilities.add[%d]", path, i), fmt.Sprintf("capability %s is not allowed", c), "only NET_BIND_SERVICE may be added")
			}
		}
		if len(sc.Capabilities.Drop) > 0 && !slices.Contains(sc.Capabilities.Drop, "ALL") {
			ps.add(path+".capabilities.drop", "must drop ALL", "write drop: [ALL], or remove it")
		}
	}
	if sp := sc.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
		ps.add(path+".seccompProfile.type", "Unconfined seccomp is not allowed", "write RuntimeDefault or Localhost, or remove it")
	}
}
