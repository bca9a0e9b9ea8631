// Package verify checks that every name one object of a rendered rqlite cluster uses to reach
// another still points at the right thing. The function derives all names from one place, but
// whatever runs after it (a kustomize namePrefix on the layer above, a hand edit, a patch) can
// rename objects without rewriting names written inside args or ConfigMap data; the cluster then
// applies cleanly and fails at runtime (nodes advertise addresses that do not resolve, discovery
// finds nobody, recovery installs a peers.json for pods that do not exist). This package finds
// those breaks in the rendered stream, before anything reaches a cluster.
package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The labels the render sets, by which verify finds a cluster and its pools.
const (
	labelManagedBy = v1alpha1.LabelManagedBy
	labelInstance  = v1alpha1.LabelInstance
	labelComponent = v1alpha1.LabelComponent
	labelName      = v1alpha1.LabelName
)

// Ref names one end of a reference.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Problem is one broken reference: where it is written (From and Field), what it should reach
// (To) and what is wrong.
type Problem struct {
	From    Ref
	Field   string
	To      Ref
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s -> %s: %s", p.From, p.Field, p.To, p.Message)
}

// Report is the outcome of checking one stream.
type Report struct {
	// Clusters are the rqlite clusters found, as "<namespace>/<instance>" ("" namespace when
	// the objects carry none), sorted.
	Clusters []string
	// Objects is how many objects the stream held, rqlite's or not.
	Objects  int
	Problems []Problem
}

// OK reports whether the stream held at least one cluster and no problem.
func (r Report) OK() bool { return len(r.Clusters) > 0 && len(r.Problems) == 0 }

// ErrNoCluster means the stream held no object the function generated. The most common cause is
// a kustomize build without --enable-exec, which skips exec generators and exits 0.
var ErrNoCluster = errors.New("no rqlite-krm objects found (label " + labelManagedBy + "=" + model.ManagedBy +
	"): did the generator run? kustomize skips exec functions silently without --enable-exec")

// Decode reads a YAML (or JSON) stream of manifests. A `kind: List` is flattened, so `kubectl get -o
// yaml` output can be checked too. Empty documents are skipped.
func Decode(data []byte) ([]map[string]any, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []map[string]any
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		if m["kind"] == "List" {
			items, _ := m["items"].([]any)
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, im)
				}
			}
			continue
		}
		out = append(out, m)
	}
}

// Check checks every rqlite cluster in a decoded stream.
func Check(docs []map[string]any) Report {
	idx := newIndex(docs)
	rep := Report{Objects: len(docs)}
	clusters := map[string]*cluster{}
	var keys []string
	for _, o := range idx.objects {
		if o.labels[labelManagedBy] != model.ManagedBy {
			continue
		}
		k := o.ns + "/" + o.labels[labelInstance]
		c := clusters[k]
		if c == nil {
			c = &cluster{ns: o.ns, instance: o.labels[labelInstance], idx: idx, raftAdv: map[*statefulSet]string{}}
			clusters[k] = c
			keys = append(keys, k)
		}
		c.objects = append(c.objects, o)
	}
	sort.Strings(keys)
	rep.Clusters = keys
	for _, k := range keys {
		rep.Problems = append(rep.Problems, clusters[k].check()...)
	}
	return rep
}

// Stream decodes and checks a YAML stream.
func Stream(data []byte) (Report, error) {
	docs, err := Decode(data)
	if err != nil {
		return Report{}, err
	}
	return Check(docs), nil
}

type object struct {
	pos                        int // 1-based position in the stream
	kind, apiVersion, ns, name string
	labels                     map[string]string
	raw                        map[string]any
}

func (o *object) ref() Ref { return Ref{Kind: o.kind, Namespace: o.ns, Name: o.name} }

// as decodes the object into a typed API struct. Unknown fields are ignored: the checks only
// read fields every supported Kubernetes version has.
func (o *object) as(v any) bool {
	b, err := json.Marshal(o.raw)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// index finds objects of the whole stream by kind, namespace and name, because a reference may
// legitimately reach an object the function did not generate.
type index struct {
	objects []*object
	byKey   map[string]*object
	// renamed maps the names objects had before a kustomize transformer renamed them (the
	// internal.config.kubernetes.io/previous* annotations, present only while a build runs) to
	// the objects. Kustomize rewrites references in known fields (serviceName, configMapKeyRef,
	// scaleTargetRef, …) only once, at the very end of the whole build, so a check running inside
	// the build must follow them to see what the final output will say.
	renamed      map[string]*object
	dups         [][2]*object              // later objects with the kind, namespace and name of an earlier one
	statefulSets map[string][]*statefulSet // by namespace
}

type statefulSet struct {
	obj *object
	sts *appsv1.StatefulSet
}

func newIndex(docs []map[string]any) *index {
	idx := &index{byKey: map[string]*object{}, renamed: map[string]*object{}, statefulSets: map[string][]*statefulSet{}}
	for i, d := range docs {
		o := &object{raw: d, pos: i + 1}
		o.kind, _ = d["kind"].(string)
		o.apiVersion, _ = d["apiVersion"].(string)
		if md, ok := d["metadata"].(map[string]any); ok {
			o.name, _ = md["name"].(string)
			o.ns, _ = md["namespace"].(string)
			o.labels = map[string]string{}
			if ls, ok := md["labels"].(map[string]any); ok {
				for k, v := range ls {
					if s, ok := v.(string); ok {
						o.labels[k] = s
					}
				}
			}
		}
		idx.objects = append(idx.objects, o)
		k := key(o.kind, o.ns, o.name)
		if first, ok := idx.byKey[k]; ok {
			idx.dups = append(idx.dups, [2]*object{first, o})
			continue
		}
		idx.byKey[k] = o
		for _, prev := range previousKeys(o) {
			if _, ok := idx.renamed[prev]; !ok {
				idx.renamed[prev] = o
			}
		}
		if o.kind == "StatefulSet" {
			var s appsv1.StatefulSet
			if o.as(&s) {
				idx.statefulSets[o.ns] = append(idx.statefulSets[o.ns], &statefulSet{obj: o, sts: &s})
			}
		}
	}
	return idx
}

func key(kind, ns, name string) string { return kind + "\x00" + ns + "\x00" + name }

// exact finds an object by its current name: right for names written in args or data, which
// nothing rewrites.
func (idx *index) exact(kind, ns, name string) *object { return idx.byKey[key(kind, ns, name)] }

// get finds the object a reference field resolves to, following renames kustomize has not
// propagated yet.
func (idx *index) get(kind, ns, name string) *object {
	if o := idx.byKey[key(kind, ns, name)]; o != nil {
		return o
	}
	return idx.renamed[key(kind, ns, name)]
}

// current is the name a reference field will hold in the final output.
func (idx *index) current(kind, ns, name string) string {
	if o := idx.get(kind, ns, name); o != nil {
		return o.name
	}
	return name
}

const (
	annPreviousNames      = "internal.config.kubernetes.io/previousNames"
	annPreviousNamespaces = "internal.config.kubernetes.io/previousNamespaces"
	annPreviousKinds      = "internal.config.kubernetes.io/previousKinds"
)

func previousKeys(o *object) []string {
	md, _ := o.raw["metadata"].(map[string]any)
	anns, _ := md["annotations"].(map[string]any)
	names, _ := anns[annPreviousNames].(string)
	if names == "" {
		return nil
	}
	nss, _ := anns[annPreviousNamespaces].(string)
	kinds, _ := anns[annPreviousKinds].(string)
	ns := strings.Split(nss, ",")
	ks := strings.Split(kinds, ",")
	var out []string
	for i, n := range strings.Split(names, ",") {
		kind, prevNS := o.kind, o.ns
		if i < len(ks) && ks[i] != "" {
			kind = ks[i]
		}
		if i < len(ns) {
			prevNS = ns[i]
			if prevNS == "default" {
				// kustomize records an unset namespace as "default"
				out = append(out, key(kind, "", n))
			}
		}
		out = append(out, key(kind, prevNS, n), key(kind, o.ns, n))
	}
	return out
}

type cluster struct {
	ns       string
	instance string
	idx      *index
	objects  []*object
	out      []Problem
	// raftAdv is the -raft-adv-addr of each StatefulSet whose argument checkRqlitedArgs found
	// sound: peers.json is compared with what the pods advertise only then, so one broken
	// argument is one finding, not one more per peer.
	raftAdv map[*statefulSet]string
}

func (c *cluster) add(from *object, field string, to Ref, format string, args ...any) {
	c.out = append(c.out, Problem{From: from.ref(), Field: field, To: to, Message: fmt.Sprintf(format, args...)})
}

// statefulSets are this cluster's StatefulSets, in stream order.
func (c *cluster) statefulSets() []*statefulSet {
	var out []*statefulSet
	for _, s := range c.idx.statefulSets[c.ns] {
		for _, o := range c.objects {
			if o == s.obj {
				out = append(out, s)
			}
		}
	}
	return out
}

// peerOf names the StatefulSet a policy object of a component should select, so a message can
// name both ends even when the selector selects nothing.
func (c *cluster) peerOf(o *object) Ref {
	sets := c.statefulSets()
	for _, s := range sets {
		if comp := o.labels[labelComponent]; comp != "" && s.obj.labels[labelComponent] == comp {
			return s.obj.ref()
		}
	}
	if len(sets) == 1 {
		return sets[0].obj.ref()
	}
	return Ref{Kind: "StatefulSet", Namespace: c.ns, Name: "*"}
}

func (c *cluster) check() []Problem {
	for _, d := range c.idx.dups {
		for _, o := range c.objects {
			if o == d[1] {
				c.add(o, "metadata.name", d[0].ref(), "defined twice in the stream (objects %d and %d): applying it would keep only one of them", d[0].pos, o.pos)
			}
		}
	}
	for _, o := range c.objects {
		switch o.kind {
		case "StatefulSet":
			for _, s := range c.statefulSets() {
				if s.obj == o {
					c.checkStatefulSet(s)
				}
			}
		case "Service":
			var svc corev1.Service
			if o.as(&svc) {
				c.checkService(o, &svc)
			}
		case "PodDisruptionBudget":
			var pdb policyv1.PodDisruptionBudget
			if o.as(&pdb) {
				c.checkSelector(o, "spec.selector", pdb.Spec.Selector)
			}
		case "NetworkPolicy":
			var np networkingv1.NetworkPolicy
			if o.as(&np) {
				c.checkNetworkPolicy(o, &np)
				c.checkPolicyRules(o, &np) // after the selectors: it skips what they reported
			}
		case "HorizontalPodAutoscaler":
			var hpa autoscalingv2.HorizontalPodAutoscaler
			if o.as(&hpa) {
				c.checkHPA(o, &hpa)
			}
		case "Job":
			var job batchv1.Job
			if o.as(&job) {
				c.checkJob(o, &job)
			}
		case "Role":
			var role rbacv1.Role
			if o.as(&role) {
				c.checkRole(o, &role)
				c.checkLeastPrivilege(o, &role)
			}
		case "ConfigMap":
			var cm corev1.ConfigMap
			if o.as(&cm) {
				c.checkStoredCredentials(o, &cm)
			}
		case "Certificate":
			c.checkCertificate(o)
		case "RoleBinding":
			var rb rbacv1.RoleBinding
			if o.as(&rb) {
				c.checkRoleBinding(o, &rb)
			}
		}
		c.checkDependsOn(o)
		c.checkNameLabel(o)
	}
	c.checkInvariants()
	return c.out
}

func (c *cluster) checkStatefulSet(s *statefulSet) {
	o, sts := s.obj, s.sts
	podLabels := sts.Spec.Template.Labels
	if sts.Spec.Selector == nil || !selects(sts.Spec.Selector.MatchLabels, podLabels) {
		c.add(o, "spec.selector", o.ref(), "does not select the StatefulSet's own pod template labels %s", fmtLabels(podLabels))
	}
	headless := c.idx.current("Service", o.ns, sts.Spec.ServiceName)
	svcRef := Ref{Kind: "Service", Namespace: o.ns, Name: headless}
	if svcObj := c.idx.get("Service", o.ns, headless); svcObj == nil {
		c.add(o, "spec.serviceName", svcRef, "no such Service: pods would get no DNS names, so Raft and discovery cannot reach them")
	} else {
		var svc corev1.Service
		if svcObj.as(&svc) {
			if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				c.add(o, "spec.serviceName", svcRef, "Service is not headless (clusterIP: None), so the pods get no DNS names")
			}
			if !selectsNonEmpty(svc.Spec.Selector, podLabels) {
				c.add(o, "spec.serviceName", svcRef, "Service selector %s does not select the StatefulSet's pods %s", fmtLabels(svc.Spec.Selector), fmtLabels(podLabels))
			}
		}
	}
	c.checkPodSpec(o, "spec.template.spec", &sts.Spec.Template.Spec)
	c.checkRqlitedArgs(s)
	c.checkCounts(s)
	c.checkPeers(s)
	c.checkPool(s)
}

// checkPodSpec checks the names a pod uses: its ServiceAccount and the ConfigMap keys it reads.
// References the function renders itself (reserved env and volume names) must resolve within the
// stream; the user's own extraEnv and extraVolumes may name ConfigMaps kept elsewhere, so for
// those only a ConfigMap that is in the stream but lacks the key is an error.
func (c *cluster) checkPodSpec(o *object, field string, pod *corev1.PodSpec) {
	if sa := pod.ServiceAccountName; sa != "" && sa != "default" {
		if c.idx.get("ServiceAccount", o.ns, sa) == nil {
			c.add(o, field+".serviceAccountName", Ref{Kind: "ServiceAccount", Namespace: o.ns, Name: sa}, "no such ServiceAccount: the pods would not be created")
		}
	}
	containers := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, ct := range containers {
		for _, e := range ct.Env {
			if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.ConfigMapKeyRef
			f := fmt.Sprintf("%s.containers[%s].env[%s].valueFrom.configMapKeyRef", field, ct.Name, e.Name)
			c.checkConfigMapKey(o, f, ref.Name, []string{ref.Key}, ref.Optional, slices.Contains(v1alpha1.ReservedEnv, e.Name))
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef != nil {
				f := fmt.Sprintf("%s.containers[%s].envFrom.configMapRef", field, ct.Name)
				c.checkConfigMapKey(o, f, ef.ConfigMapRef.Name, nil, ef.ConfigMapRef.Optional, false)
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		var keys []string
		for _, it := range v.ConfigMap.Items {
			keys = append(keys, it.Key)
		}
		c.checkConfigMapKey(o, fmt.Sprintf("%s.volumes[%s].configMap", field, v.Name), v.ConfigMap.Name, keys, v.ConfigMap.Optional, slices.Contains(v1alpha1.ReservedVolumes, v.Name))
	}
}

func (c *cluster) configMap(ns, name string) *corev1.ConfigMap {
	o := c.idx.get("ConfigMap", ns, name)
	if o == nil {
		return nil
	}
	var cm corev1.ConfigMap
	if !o.as(&cm) {
		return nil
	}
	return &cm
}

func (c *cluster) checkConfigMapKey(o *object, field, name string, keys []string, optional *bool, rendered bool) {
	if optional != nil && *optional {
		return
	}
	to := Ref{Kind: "ConfigMap", Namespace: o.ns, Name: name}
	cm := c.configMap(o.ns, name)
	if cm == nil {
		if rendered {
			c.add(o, field, to, "no such ConfigMap: the pods would not start")
		}
		return
	}
	for _, k := range keys {
		if _, ok := cm.Data[k]; !ok {
			c.add(o, field, to, "ConfigMap has no key %q", k)
		}
	}
}

// rqlited flags whose values hold names of other objects.
const (
	flagRaftAdv  = "-raft-adv-addr"
	flagHTTPAdv  = "-http-adv-addr"
	flagDisco    = "-disco-config"
	flagNonVoter = "-raft-non-voter"
)

// rqliteContainer is the container running rqlited: the one whose args carry its address flags.
func rqliteContainer(pod *corev1.PodSpec) *corev1.Container {
	for i := range pod.Containers {
		ct := &pod.Containers[i]
		if _, ok := flagValue(ct.Args, flagRaftAdv); ok {
			return ct
		}
		if len(ct.Command) > 0 && strings.HasSuffix(ct.Command[0], "rqlited") {
			return ct
		}
	}
	return nil
}

// isVoter tells the pools apart by the component label their pods carry (what every Service,
// PDB and policy selects them by), and by rqlited's -raft-non-voter flag when the label is gone;
// checkPoolRole reports a flag that disagrees with the label.
func isVoter(s *statefulSet) bool {
	switch s.sts.Spec.Template.Labels[labelComponent] {
	case model.ComponentVoter:
		return true
	case model.ComponentReadOnly:
		return false
	}
	ct := rqliteContainer(&s.sts.Spec.Template.Spec)
	if ct == nil {
		return false
	}
	v, ok := flagValue(ct.Args, flagNonVoter)
	return !ok || v == "false"
}

// checkRqlitedArgs checks the headless Service names rqlited advertises and discovers through.
// A pod's DNS name is <pod>.<spec.serviceName>, so both advertised addresses must use exactly the
// StatefulSet's serviceName; discovery must name the voters' headless Service.
func (c *cluster) checkRqlitedArgs(s *statefulSet) {
	o := s.obj
	ct := rqliteContainer(&s.sts.Spec.Template.Spec)
	if ct == nil {
		return
	}
	field := fmt.Sprintf("spec.template.spec.containers[%s].args", ct.Name)
	own := c.headless(s)
	podVar := "$(" + model.EnvPodName + ")"
	nsVar := "$(" + model.EnvPodNamespace + ")"
	for _, flag := range []string{flagRaftAdv, flagHTTPAdv} {
		v, ok := flagValue(ct.Args, flag)
		if flag == flagRaftAdv && ok {
			found := len(c.out)
			defer func() {
				if len(c.out) == found {
					c.raftAdv[s] = v
				}
			}()
		}
		if !ok {
			c.add(o, field, Ref{Kind: "Service", Namespace: o.ns, Name: own}, "rqlited has no %s flag", flag)
			continue
		}
		host := v
		if h, _, ok := strings.Cut(v, ":"); ok {
			host = h
		}
		labels := strings.Split(host, ".")
		if len(labels) < 2 {
			c.add(o, field+" "+flag, Ref{Kind: "Service", Namespace: o.ns, Name: own}, "%q is not <pod>.<headless Service>", v)
			continue
		}
		if labels[0] != podVar {
			c.add(o, field+" "+flag, o.ref(), "%q does not start with %s, so every pod would advertise the same address", v, podVar)
		}
		named := labels[1]
		to := Ref{Kind: "Service", Namespace: o.ns, Name: named}
		if named != own {
			missing := ""
			if c.idx.exact("Service", o.ns, named) == nil {
				missing = "no such Service; "
			}
			c.add(o, field+" "+flag, to, "%sthe pods' DNS names live under spec.serviceName %q, so %q does not resolve", missing, own, v)
		}
		// The namespace part, when written literally instead of taken from the downward API,
		// must be the one the pods run in.
		if len(labels) >= 3 && labels[2] != nsVar && labels[2] != "svc" && o.ns != "" && labels[2] != o.ns {
			c.add(o, field+" "+flag, to, "names namespace %q but the StatefulSet is in %q", labels[2], o.ns)
		}
	}
	v, ok := flagValue(ct.Args, flagDisco)
	if !ok {
		return
	}
	var cfg struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(v), &cfg); err != nil || cfg.Name == "" {
		c.add(o, field+" "+flagDisco, Ref{Kind: "Service", Namespace: o.ns}, "%q is not a JSON object with a name, so the Service it discovers through cannot be checked", v)
		return
	}
	to := Ref{Kind: "Service", Namespace: o.ns, Name: cfg.Name}
	svcObj := c.idx.exact("Service", o.ns, cfg.Name)
	if svcObj == nil {
		c.add(o, field+" "+flagDisco, to, "no such Service: discovery would find no nodes (the voters' headless Service is %s)", c.voterHeadless())
		return
	}
	var svc corev1.Service
	if svcObj.as(&svc) && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		c.add(o, field+" "+flagDisco, to, "Service is not headless: DNS discovery would see one virtual IP instead of the nodes")
	}
	for _, v := range c.statefulSets() {
		if isVoter(v) && c.headless(v) == cfg.Name {
			return
		}
	}
	c.add(o, field+" "+flagDisco, to, "is not the headless Service of the voters (%s), so discovery would not find the voters", c.voterHeadless())
}

// headless is the name the StatefulSet's serviceName will have in the final output.
func (c *cluster) headless(s *statefulSet) string {
	return c.idx.current("Service", s.obj.ns, s.sts.Spec.ServiceName)
}

func (c *cluster) voterHeadless() string {
	var names []string
	for _, s := range c.statefulSets() {
		if isVoter(s) {
			names = append(names, strconv.Quote(c.headless(s)))
		}
	}
	if len(names) == 0 {
		return "none: no voter StatefulSet found"
	}
	return strings.Join(names, ", ")
}

// checkCounts checks the counts the voters read from the ConfigMap against the StatefulSet's
// replicas: a kustomize `replicas:` on the layer above changes one and not the other.
func (c *cluster) checkCounts(s *statefulSet) {
	if s.sts.Spec.Replicas == nil || !isVoter(s) {
		return
	}
	n := *s.sts.Spec.Replicas
	for _, ct := range s.sts.Spec.Template.Spec.Containers {
		for _, e := range ct.Env {
			if e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Key != model.KeyBootstrapExpect {
				continue
			}
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := c.configMap(s.obj.ns, ref.Name)
			if cm == nil {
				continue // reported by checkPodSpec
			}
			// During a recovery the count is deliberately out of reach (model.BootstrapExpect).
			recovering := cm.Data[model.KeyStaticPeers] == "true"
			want := strconv.Itoa(int(model.BootstrapExpect(n, recovering)))
			if v, ok := cm.Data[ref.Key]; ok && v != want {
				why := fmt.Sprintf("the StatefulSet runs %d voters", n)
				if recovering {
					why += fmt.Sprintf(" and %s is true, so it must be %s", model.KeyStaticPeers, want)
				}
				c.out = append(c.out, Problem{
					From:    Ref{Kind: "ConfigMap", Namespace: s.obj.ns, Name: c.idx.current("ConfigMap", s.obj.ns, ref.Name)},
					Field:   "data." + ref.Key,
					To:      s.obj.ref(),
					Message: fmt.Sprintf("is %s but %s", v, why),
				})
			}
			c.checkCountKeys(s, ref.Name, cm)
		}
	}
}

// checkCountKeys checks the ConfigMap's record of the pool sizes (what a reader and `rqlite-fn
// plan` see) against the StatefulSets.
func (c *cluster) checkCountKeys(voters *statefulSet, name string, cm *corev1.ConfigMap) {
	from := Ref{Kind: "ConfigMap", Namespace: voters.obj.ns, Name: c.idx.current("ConfigMap", voters.obj.ns, name)}
	want := map[string]string{model.KeyVoters: strconv.Itoa(int(*voters.sts.Spec.Replicas)), model.KeyReadOnly: "0"}
	to := map[string]Ref{model.KeyVoters: voters.obj.ref(), model.KeyReadOnly: voters.obj.ref()}
	for _, s := range c.statefulSets() {
		if isVoter(s) {
			continue
		}
		want[model.KeyReadOnly], to[model.KeyReadOnly] = "autoscaled", s.obj.ref()
		if s.sts.Spec.Replicas != nil {
			want[model.KeyReadOnly] = strconv.Itoa(int(*s.sts.Spec.Replicas))
		}
	}
	for _, k := range []string{model.KeyVoters, model.KeyReadOnly} {
		if v, ok := cm.Data[k]; ok && v != want[k] {
			c.out = append(c.out, Problem{From: from, Field: "data." + k, To: to[k], Message: fmt.Sprintf("is %s but the StatefulSet says %s", v, want[k])})
		}
	}
}

// checkPeers checks the peers.json a voter StatefulSet mounts: its ids must be exactly the pod
// names (they are the node ids) and its addresses the pods' Raft addresses under the
// StatefulSet's headless Service.
func (c *cluster) checkPeers(s *statefulSet) {
	if s.sts.Spec.Replicas == nil {
		return
	}
	for _, v := range s.sts.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || !mountsKey(v.ConfigMap, model.KeyPeersJSON) {
			continue
		}
		cm := c.configMap(s.obj.ns, v.ConfigMap.Name)
		if cm == nil {
			continue // reported by checkPodSpec
		}
		data, ok := cm.Data[model.KeyPeersJSON]
		if !ok {
			continue
		}
		from := &object{kind: "ConfigMap", ns: s.obj.ns, name: c.idx.current("ConfigMap", s.obj.ns, v.ConfigMap.Name)}
		field := "data." + model.KeyPeersJSON
		to := s.obj.ref()
		var peers []model.Peer
		if err := json.Unmarshal([]byte(data), &peers); err != nil {
			c.add(from, field, to, "is not a peers.json list: %v", err)
			continue
		}
		n := int(*s.sts.Spec.Replicas)
		headless := c.headless(s)
		// What each pod advertises is its -raft-adv-addr as the kubelet expands it there; the
		// rendered argument is the one definition of the address, whatever the naming layout.
		advertised, hasAdv := c.raftAdv[s]
		want := map[string]bool{}
		for i := 0; i < n; i++ {
			want[model.PodName(s.sts.Name, i)] = true
		}
		seen := map[string]bool{}
		for i, p := range peers {
			f := fmt.Sprintf("%s[%d]", field, i)
			if !want[p.ID] {
				c.add(from, f+".id", to, "%q is not a pod of the StatefulSet (pods %s … %s)", p.ID, model.PodName(s.sts.Name, 0), model.PodName(s.sts.Name, n-1))
			}
			seen[p.ID] = true
			switch {
			case want[p.ID] && hasAdv:
				// a missing or broken -raft-adv-addr is reported by checkRqlitedArgs
				if wantAddr := model.ExpandPodArg(advertised, p.ID, s.obj.ns); p.Address != wantAddr {
					c.add(from, f+".address", to, "%q is not the Raft address the pod advertises, %q", p.Address, wantAddr)
				}
			case !want[p.ID] && !underService(p.Address, headless):
				c.add(from, f+".address", Ref{Kind: "Service", Namespace: s.obj.ns, Name: headless}, "%q is not under the StatefulSet's headless Service %q", p.Address, headless)
			}
			if p.NonVoter {
				c.add(from, f+".non_voter", to, "voter %q is listed as a non-voter", p.ID)
			}
		}
		for i := 0; i < n; i++ {
			if pod := model.PodName(s.sts.Name, i); !seen[pod] {
				c.add(from, field, Ref{Kind: "Pod", Namespace: s.obj.ns, Name: pod}, "voter pod is missing from peers.json")
			}
		}
	}
}

// underService reports whether a host:port names a pod of a headless Service: <pod>.<service>,
// relative or fully qualified.
func underService(addr, service string) bool {
	host, _, _ := strings.Cut(addr, ":")
	labels := strings.Split(host, ".")
	return len(labels) >= 2 && labels[1] == service
}

func mountsKey(v *corev1.ConfigMapVolumeSource, key string) bool {
	if len(v.Items) == 0 {
		return true
	}
	for _, it := range v.Items {
		if it.Key == key {
			return true
		}
	}
	return false
}

func (c *cluster) checkService(o *object, svc *corev1.Service) {
	to := c.peerOf(o)
	if len(svc.Spec.Selector) == 0 {
		c.add(o, "spec.selector", to, "empty selector: the Service has no endpoints")
		return
	}
	var selected []*statefulSet
	for _, s := range c.idx.statefulSets[o.ns] {
		if selects(svc.Spec.Selector, s.sts.Spec.Template.Labels) {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		c.add(o, "spec.selector", to, "selector %s selects no StatefulSet's pods", fmtLabels(svc.Spec.Selector))
		return
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.StrVal == "" {
			continue
		}
		for _, s := range selected {
			if !hasPort(&s.sts.Spec.Template.Spec, p.TargetPort.StrVal) {
				c.add(o, fmt.Sprintf("spec.ports[%s].targetPort", p.Name), s.obj.ref(), "the pods have no container port named %q", p.TargetPort.StrVal)
			}
		}
	}
}

func hasPort(pod *corev1.PodSpec, name string) bool {
	for _, ct := range pod.Containers {
		for _, p := range ct.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func (c *cluster) checkSelector(o *object, field string, sel *metav1.LabelSelector) {
	to := c.peerOf(o)
	if sel == nil || len(sel.MatchLabels) == 0 {
		c.add(o, field, to, "no matchLabels: the object would apply to every pod in the namespace")
		return
	}
	for _, s := range c.idx.statefulSets[o.ns] {
		if selects(sel.MatchLabels, s.sts.Spec.Template.Labels) {
			return
		}
	}
	c.add(o, field, to, "selector %s selects no StatefulSet's pods", fmtLabels(sel.MatchLabels))
}

func (c *cluster) checkNetworkPolicy(o *object, np *networkingv1.NetworkPolicy) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || len(np.Spec.PodSelector.MatchLabels) == 0 {
		c.add(o, "spec.podSelector", c.peerOf(o), "no usable selector: the policy would apply to every pod in the namespace")
		return
	}
	// The shrink Job's policy covers the Job's pods; the cluster's policy covers both pools.
	if np.Spec.PodSelector.MatchLabels[labelComponent] == model.ComponentShrink {
		for _, job := range c.objects {
			var j batchv1.Job
			if job.kind == "Job" && job.as(&j) && !sel.Matches(labels.Set(j.Spec.Template.Labels)) {
				c.add(o, "spec.podSelector", job.ref(), "selector %s does not cover the Job's pods %s", sel.String(), fmtLabels(j.Spec.Template.Labels))
			}
		}
		return
	}
	if len(c.statefulSets()) == 0 {
		c.add(o, "spec.podSelector", c.peerOf(o), "selector %s selects no StatefulSet's pods", sel.String())
	}
	for _, s := range c.statefulSets() {
		if !sel.Matches(labels.Set(s.sts.Spec.Template.Labels)) {
			c.add(o, "spec.podSelector", s.obj.ref(), "selector %s does not cover this StatefulSet's pods %s", sel.String(), fmtLabels(s.sts.Spec.Template.Labels))
		}
	}
	// Peers that name this cluster (by its instance label) must reach its pods; other peers are
	// the user's clients, which live outside the rendered stream.
	for i, rule := range np.Spec.Ingress {
		for j, peer := range rule.From {
			if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.PodSelector.MatchLabels[labelInstance] == "" {
				continue
			}
			c.checkSelector(o, fmt.Sprintf("spec.ingress[%d].from[%d].podSelector", i, j), peer.PodSelector)
		}
	}
}

func (c *cluster) checkHPA(o *object, hpa *autoscalingv2.HorizontalPodAutoscaler) {
	t := hpa.Spec.ScaleTargetRef
	to := Ref{Kind: t.Kind, Namespace: o.ns, Name: t.Name}
	if t.Kind != "StatefulSet" {
		c.add(o, "spec.scaleTargetRef", to, "targets a %s, not the read-only StatefulSet", t.Kind)
		return
	}
	var target *statefulSet
	if tobj := c.idx.get("StatefulSet", o.ns, t.Name); tobj != nil {
		for _, s := range c.idx.statefulSets[o.ns] {
			if s.obj == tobj {
				target = s
			}
		}
	}
	if target == nil {
		c.add(o, "spec.scaleTargetRef", to, "no such StatefulSet: nothing would be scaled")
		return
	}
	if isVoter(target) {
		c.add(o, "spec.scaleTargetRef", to, "scales the voters: changing their number needs the bootstrap count and peers.json to follow")
	}
	if target.sts.Spec.Replicas != nil {
		c.add(o, "spec.scaleTargetRef", to, "the StatefulSet also sets spec.replicas, so every apply resets what the autoscaler chose")
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

func selectsNonEmpty(selector, labels map[string]string) bool {
	return len(selector) > 0 && selects(selector, labels)
}

func fmtLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// annDependsOn is kpt's apply-ordering annotation: <group>/namespaces/<ns>/<kind>/<name> for a
// namespaced object, <group>/<kind>/<name> for a cluster-scoped one, comma-separated. Nothing
// rewrites it, so a rename or a namespace change on a layer above leaves it pointing at nothing
// and `kpt live apply` then refuses or waits for an object that never comes.
const annDependsOn = "config.kubernetes.io/depends-on"

func (c *cluster) checkDependsOn(o *object) {
	md, _ := o.raw["metadata"].(map[string]any)
	anns, _ := md["annotations"].(map[string]any)
	v, _ := anns[annDependsOn].(string)
	if v == "" {
		return
	}
	for _, dep := range strings.Split(v, ",") {
		parts := strings.Split(strings.TrimSpace(dep), "/")
		var to Ref
		switch {
		case len(parts) == 5 && parts[1] == "namespaces":
			to = Ref{Kind: parts[3], Namespace: parts[2], Name: parts[4]}
		case len(parts) == 3:
			to = Ref{Kind: parts[1], Name: parts[2]}
		default:
			c.add(o, "metadata.annotations["+annDependsOn+"]", Ref{Kind: "?", Name: dep}, "%q is not <group>/namespaces/<namespace>/<kind>/<name>", dep)
			continue
		}
		if c.idx.exact(to.Kind, to.Namespace, to.Name) != nil {
			continue
		}
		hint := ""
		if to.Namespace != o.ns {
			hint = fmt.Sprintf(" (the object is in namespace %q)", o.ns)
		}
		c.add(o, "metadata.annotations["+annDependsOn+"]", to, "no such object in the stream%s: kpt would wait for something that is never applied", hint)
	}
}

// checkRole checks that the objects a Role grants access to by name exist. kustomize rewrites
// ConfigMap and Secret names in resourceNames but no others.
func (c *cluster) checkRole(o *object, role *rbacv1.Role) {
	kinds := map[string]string{
		"statefulsets": "StatefulSet", "statefulsets/scale": "StatefulSet",
		"configmaps": "ConfigMap", "services": "Service", "pods": "Pod",
	}
	for i, r := range role.Rules {
		for _, res := range r.Resources {
			kind, ok := kinds[res]
			if !ok || kind == "Pod" {
				continue
			}
			for _, name := range r.ResourceNames {
				found := c.idx.exact(kind, o.ns, name) != nil
				if kind == "ConfigMap" {
					found = c.idx.get(kind, o.ns, name) != nil
				}
				if !found {
					c.add(o, fmt.Sprintf("rules[%d].resourceNames", i), Ref{Kind: kind, Namespace: o.ns, Name: name}, "no such %s: the grant allows nothing and the Job using it fails", kind)
				}
			}
		}
	}
}

func (c *cluster) checkRoleBinding(o *object, rb *rbacv1.RoleBinding) {
	if rb.RoleRef.Kind == "Role" && c.idx.get("Role", o.ns, rb.RoleRef.Name) == nil {
		c.add(o, "roleRef", Ref{Kind: "Role", Namespace: o.ns, Name: rb.RoleRef.Name}, "no such Role")
	}
	for i, s := range rb.Subjects {
		if s.Kind != "ServiceAccount" {
			continue
		}
		f := fmt.Sprintf("subjects[%d]", i)
		ns := s.Namespace
		to := Ref{Kind: "ServiceAccount", Namespace: ns, Name: s.Name}
		if o.ns == "" && ns != "" {
			// The objects carry no namespace and land wherever they are applied; a subject
			// naming one fixed namespace is right only if that happens to be it.
			c.add(o, f+".namespace", to, "names namespace %q but the objects carry none, so the ServiceAccount is created in whatever namespace they are applied to: give the spec a metadata.namespace", ns)
			continue
		}
		if ns == "" {
			ns = o.ns
		}
		if c.idx.get("ServiceAccount", ns, s.Name) == nil {
			c.add(o, f, to, "no such ServiceAccount in the stream")
		}
	}
}

// checkShrinkArgs checks the names the voter shrink Job is given on its command line: the voters'
// StatefulSet, their headless Service and the client Service it talks to.
func (c *cluster) checkShrinkArgs(o *object, pod *corev1.PodSpec) {
	for _, ct := range pod.Containers {
		if len(ct.Args) == 0 || ct.Args[0] != "shrink" {
			continue
		}
		field := fmt.Sprintf("spec.template.spec.containers[%s].args", ct.Name)
		cl := parseCommandLine(ct.Args[1:], nil)
		stsName, _ := cl.flag("--statefulset")
		var voters *statefulSet
		for _, s := range c.statefulSets() {
			if s.sts.Name == stsName {
				voters = s
			}
		}
		stsRef := Ref{Kind: "StatefulSet", Namespace: o.ns, Name: stsName}
		switch {
		case voters == nil:
			c.add(o, field+" --statefulset", stsRef, "no such StatefulSet in this cluster: the Job cannot find the voters")
		case !isVoter(voters):
			c.add(o, field+" --statefulset", stsRef, "is not the voters' StatefulSet")
		}
		if h, ok := cl.flag("--headless"); ok {
			to := Ref{Kind: "Service", Namespace: o.ns, Name: h}
			switch {
			case voters != nil && h != c.headless(voters):
				c.add(o, field+" --headless", to, "is not the voters' headless Service %q", c.headless(voters))
			case voters == nil && c.idx.exact("Service", o.ns, h) == nil:
				c.add(o, field+" --headless", to, "no such Service")
			}
		}
		if u, ok := cl.flag("--rqlite-url"); ok {
			host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
			host, _, _ = strings.Cut(host, ":")
			host, _, _ = strings.Cut(host, "/")
			svcName, _, _ := strings.Cut(host, ".")
			to := Ref{Kind: "Service", Namespace: o.ns, Name: svcName}
			svcObj := c.idx.exact("Service", o.ns, svcName)
			var svc corev1.Service
			switch {
			case svcObj == nil:
				c.add(o, field+" --rqlite-url", to, "no such Service: the Job cannot reach the cluster")
			case voters != nil && svcObj.as(&svc) && !selectsNonEmpty(svc.Spec.Selector, voters.sts.Spec.Template.Labels):
				c.add(o, field+" --rqlite-url", to, "Service does not select the voters' pods")
			}
		}
	}
}
