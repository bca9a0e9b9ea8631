// Package manifestimport turns the manifests of a running rqlite cluster built from rqlite's
// Kubernetes guide (its kubernetes-configuration Service and StatefulSet, a hand-edited variant, or
// a `kubectl get -o yaml` dump of them) into the RqliteSpec that adopts them in place (naming:
// kubernetes-configuration). Every setting ends up in the report — kept, mapped to a spec field,
// replaced by the function's own behaviour, dropped, or unsupported with what to do — because a
// setting the import loses is a behaviour the cluster loses on the next rollout. A setting that
// would make the in-place update impossible (another selector, serviceName, claim template or
// identity) is an error: no spec is written.
package manifestimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/helmimport"
	"github.com/rqlite/rqlite-krm/fn/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Options of an import.
type Options struct {
	// Namespace the cluster runs in, when the manifests do not say (the guide's do not).
	// Required either way: the nodes advertise `hostname -f`, which names it.
	Namespace string
	// ClusterDomain when it is not cluster.local (it ends `hostname -f`).
	ClusterDomain string
	// SchemaRef, when set, is written as the spec's `# yaml-language-server: $schema=` comment.
	SchemaRef string
}

// Result is the imported spec and the report. Errors in the report mean no spec may be written.
type Result struct {
	Spec     *v1alpha1.RqliteSpec
	YAML     []byte
	Report   *Report
	Problems v1alpha1.Problems
}

// ErrNoNamespace: neither the manifests nor the options name the namespace.
var ErrNoNamespace = errors.New("the cluster's namespace is required (the manifests do not name one: pass --namespace): its nodes advertise `hostname -f`, which names it")

// Import reads the manifests and returns the spec that adopts them.
func Import(opts Options, files ...[]byte) (*Result, error) {
	objs, err := parse(files...)
	if err != nil {
		return nil, err
	}
	if d := opts.ClusterDomain; d != "" {
		if errs := validation.IsDNS1123Subdomain(d); len(errs) > 0 {
			return nil, fmt.Errorf("cluster domain %q: %s", d, strings.Join(errs, "; "))
		}
	}
	switch len(objs.statefulSets) {
	case 0:
		return nil, errors.New("no StatefulSet in the manifests: the import adopts the StatefulSet that runs rqlite (pass its file, e.g. statefulset-3-node.yaml)")
	case 1:
	default:
		return nil, fmt.Errorf("%d StatefulSets in the manifests: import one cluster at a time", len(objs.statefulSets))
	}
	sts := objs.statefulSets[0]
	ns := sts.Namespace
	if ns == "" {
		ns = opts.Namespace
	} else if opts.Namespace != "" && opts.Namespace != ns {
		return nil, fmt.Errorf("--namespace %s, but StatefulSet %s is in namespace %s", opts.Namespace, sts.Name, ns)
	}
	if ns == "" {
		return nil, ErrNoNamespace
	}
	im := &importer{opts: opts, objs: objs, sts: sts, rep: &Report{Namespace: ns, Name: sts.Name}}
	im.spec = &v1alpha1.RqliteSpec{
		Metadata: v1alpha1.ObjectMeta{Name: sts.Name, Namespace: ns},
		Spec:     v1alpha1.ClusterSpec{Naming: v1alpha1.NamingKubernetesConfiguration, ClusterDomain: opts.ClusterDomain},
	}
	im.spec.APIVersion, im.spec.Kind = v1alpha1.APIVersion, v1alpha1.Kind
	im.run()
	out, err := im.encode()
	if err != nil {
		return nil, err
	}
	res := generate.FromYAML(out)
	for _, p := range res.Problems {
		sev := "error"
		if p.Warning {
			sev = "warning"
		}
		im.rep.Problems = append(im.rep.Problems, fmt.Sprintf("[%s] %s", sev, p))
	}
	im.rep.sort()
	return &Result{Spec: im.spec, YAML: out, Report: im.rep, Problems: res.Problems}, nil
}

type importer struct {
	opts Options
	objs *objects
	sts  *appsv1.StatefulSet
	spec *v1alpha1.RqliteSpec
	rep  *Report
}

func (im *importer) add(e helmimport.Entry) { im.rep.Entries = append(im.rep.Entries, e) }
func (im *importer) kept(path, reason string) {
	im.add(helmimport.Entry{Path: path, Status: Kept, Reason: reason})
}
func (im *importer) mapped(path, to, reason string) {
	im.add(helmimport.Entry{Path: path, Status: helmimport.Mapped, To: to, Reason: reason})
}
func (im *importer) replaced(path, reason string) {
	im.add(helmimport.Entry{Path: path, Status: helmimport.Replaced, Reason: reason})
}
func (im *importer) dropped(path, reason string) {
	im.add(helmimport.Entry{Path: path, Status: helmimport.Dropped, Reason: reason})
}
func (im *importer) unsupported(path, reason, action string) {
	im.add(helmimport.Entry{Path: path, Status: helmimport.Unsupported, Reason: reason, Action: action})
}

// fail records a setting that makes the in-place update impossible: no spec is written.
func (im *importer) fail(path, reason string) {
	im.add(helmimport.Entry{Path: path, Status: Conflict, Reason: reason})
}

func (im *importer) kubectl() string { return "kubectl -n " + im.rep.Namespace }

func (im *importer) run() {
	name := im.sts.Name
	p := "StatefulSet/" + name
	if len(validation.IsDNS1035Label(name)) > 0 || len(name) > v1alpha1.MaxNameLength {
		im.fail(p+" metadata.name", fmt.Sprintf("%q cannot be a cluster name (a DNS-1035 label of at most %d characters), and the StatefulSet's name must stay", name, v1alpha1.MaxNameLength))
	}
	im.mapped(p+" metadata.name", "metadata.name", "the StatefulSet keeps its name, so its pods keep theirs (the node ids)")
	want := map[string]string{model.GuideAppLabel: name}
	if sel := im.sts.Spec.Selector; sel == nil || len(sel.MatchExpressions) > 0 || !equalMaps(sel.MatchLabels, want) {
		im.fail(p+" spec.selector", fmt.Sprintf("is not app=%s: a StatefulSet's selector is immutable, and naming: kubernetes-configuration keeps exactly that one", name))
	} else {
		im.kept(p+" spec.selector", "app="+name+" (immutable)")
	}
	if h := name + model.GuideHeadlessSuffix; im.sts.Spec.ServiceName != h {
		im.fail(p+" spec.serviceName", fmt.Sprintf("is %q, not %q: serviceName is immutable and names the pods' DNS names, which are their Raft addresses", im.sts.Spec.ServiceName, h))
	} else {
		im.kept(p+" spec.serviceName", h+" (immutable; `hostname -f` of every pod, so every Raft address, is under it)")
	}
	if im.sts.Spec.Replicas != nil {
		im.spec.Spec.Voters.Replicas = im.sts.Spec.Replicas
		im.mapped(p+" spec.replicas", "spec.voters.replicas", "")
	} else {
		im.spec.Spec.Voters.Replicas = ptr(int32(1))
		im.mapped(p+" spec.replicas", "spec.voters.replicas", "not set: Kubernetes runs 1")
	}
	if im.sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		im.fail(p+" spec.podManagementPolicy", fmt.Sprintf("is %q: the field is immutable and the function renders Parallel", orDefault(string(im.sts.Spec.PodManagementPolicy), "OrderedReady (the default)")))
	} else {
		im.kept(p+" spec.podManagementPolicy", "Parallel (immutable)")
	}
	im.replaced(p+" spec.updateStrategy", "RollingUpdate with minReadySeconds 10: one pod at a time, each caught up with the leader before the next")
	im.claims(p)
	im.pod(p + " spec.template")
	im.services()
	for _, o := range im.objs.other {
		im.unsupported(o, "not read by the import: the render does not contain it", "keep it in your own manifests, or delete it once the cluster is adopted (a PodDisruptionBudget would now overlap the render's)")
	}
}

func (im *importer) claims(p string) {
	vcts := im.sts.Spec.VolumeClaimTemplates
	if len(vcts) != 1 || vcts[0].Name != model.KubernetesConfigurationLayout.Claim {
		im.fail(p+" spec.volumeClaimTemplates", fmt.Sprintf("must be one claim template named %s, as the guide's (immutable: the render keeps exactly that one)", model.KubernetesConfigurationLayout.Claim))
		return
	}
	v := vcts[0]
	vp := fmt.Sprintf("%s spec.volumeClaimTemplates[%s]", p, v.Name)
	im.kept(vp+" metadata.name", fmt.Sprintf("the PVCs %s-%s-<ordinal> stay bound to the pods", v.Name, im.sts.Name))
	if len(v.Labels) > 0 || len(v.Annotations) > 0 {
		im.fail(vp+" metadata", "labels or annotations on the claim template: the field is immutable and the render writes none")
	}
	if len(v.Spec.AccessModes) != 1 || v.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		im.fail(vp+" spec.accessModes", "must be [ReadWriteOnce], as the render's (immutable)")
	}
	if v.Spec.Selector != nil || v.Spec.DataSource != nil || v.Spec.DataSourceRef != nil || v.Spec.VolumeName != "" || v.Spec.VolumeAttributesClassName != nil ||
		(v.Spec.VolumeMode != nil && *v.Spec.VolumeMode != corev1.PersistentVolumeFilesystem) || len(v.Spec.Resources.Limits) > 0 {
		im.fail(vp+" spec", "sets fields the render cannot keep (selector, dataSource, volumeName, volumeMode Block, volumeAttributesClassName or limits); the claim template is immutable")
	}
	if q, ok := v.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		im.spec.Spec.Storage.Size = &q
		im.mapped(vp+" spec.resources.requests.storage", "spec.storage.size", "immutable: kept as it is")
	} else {
		im.fail(vp+" spec.resources.requests.storage", "no size")
	}
	if c := v.Spec.StorageClassName; c != nil {
		im.spec.Spec.Storage.StorageClassName = c
		e := helmimport.Entry{Path: vp + " spec.storageClassName", Status: helmimport.Mapped, To: "spec.storage.storageClassName", Reason: "immutable: kept as it is"}
		if *c == "standard" {
			e.Reason = `immutable: kept as it is. "standard" is the guide's default, which exists on some clusters only`
			e.Action = fmt.Sprintf("the bound PVCs keep their class; new pods (a scale-up) need it: kubectl get storageclass standard. If it is missing, grow only after following docs/storage-migration.md (%s get pvc shows the class in use)", im.kubectl())
		}
		im.add(e)
	} else {
		im.kept(vp+" spec.storageClassName", "not set: the cluster's default class, as before")
	}
}

func (im *importer) pod(p string) {
	t := &im.sts.Spec.Template
	name := im.sts.Name
	if !equalMaps(map[string]string{model.GuideAppLabel: t.Labels[model.GuideAppLabel]}, map[string]string{model.GuideAppLabel: name}) {
		im.fail(p+" metadata.labels", "the pods must carry app="+name+", which the selector selects")
	}
	extra := map[string]string{}
	for k, v := range t.Labels {
		if k != model.GuideAppLabel {
			extra[k] = v
		}
	}
	if len(extra) > 0 {
		im.spec.Spec.Voters.PodLabels = extra
		im.mapped(p+" metadata.labels", "spec.voters.podLabels", "besides app="+name)
	}
	if len(t.Annotations) > 0 {
		im.spec.Spec.Voters.PodAnnotations = t.Annotations
		im.mapped(p+" metadata.annotations", "spec.voters.podAnnotations", "")
	}
	s := &t.Spec
	if s.TerminationGracePeriodSeconds != nil {
		im.replaced(p+" spec.terminationGracePeriodSeconds", fmt.Sprintf("%d s → 45 s: a stopping leader hands over leadership (-raft-shutdown-stepdown) within it, after a 5 s preStop pause", *s.TerminationGracePeriodSeconds))
	}
	im.replaced(p+" spec.securityContext", fmt.Sprintf("the pods run as uid/gid %d with fsGroup %d, non-root, read-only root filesystem: the kubelet makes the volume's files (written as root by the image's default user) group-writable at the first start", model.RunAsUser, model.RunAsUser))
	im.add(helmimport.Entry{Path: p + " spec.securityContext (volume ownership)", Status: helmimport.Replaced,
		Reason: fmt.Sprintf("fsGroup needs a volume type that supports ownership management (block-backed CSI volumes do; NFS and hostPath do not): the runbook checks it first (%s get pvc -o wide; kubectl get csidriver)", im.kubectl())})
	sch := &im.spec.Spec.Voters.Scheduling
	if len(s.NodeSelector) > 0 {
		sch.NodeSelector = s.NodeSelector
		im.mapped(p+" spec.nodeSelector", "spec.voters.scheduling.nodeSelector", "")
	}
	if len(s.Tolerations) > 0 {
		sch.Tolerations = s.Tolerations
		im.mapped(p+" spec.tolerations", "spec.voters.scheduling.tolerations", "")
	}
	if s.Affinity != nil {
		sch.Affinity = s.Affinity
		im.mapped(p+" spec.affinity", "spec.voters.scheduling.affinity", "replaces the function's host anti-affinity")
	}
	if s.PriorityClassName != "" {
		sch.PriorityClassName = s.PriorityClassName
		im.mapped(p+" spec.priorityClassName", "spec.voters.scheduling.priorityClassName", "")
	}
	if len(s.ImagePullSecrets) > 0 {
		im.spec.Spec.ImagePullSecrets = s.ImagePullSecrets
		im.mapped(p+" spec.imagePullSecrets", "spec.imagePullSecrets", "")
	}
	if len(s.Volumes) > 0 {
		im.unsupported(p+" spec.volumes", "volumes besides the claim template are not carried over", "add them as spec.voters.extraVolumes and extraVolumeMounts")
	}
	if len(s.InitContainers) > 0 {
		im.unsupported(p+" spec.initContainers", "not carried over", "add them as spec.voters.extraInitContainers")
	}
	var rq *corev1.Container
	for i := range s.Containers {
		if s.Containers[i].Name == model.ContainerName {
			rq = &s.Containers[i]
		} else {
			im.unsupported(fmt.Sprintf("%s spec.containers[%s]", p, s.Containers[i].Name), "a sidecar is not carried over", "add it as spec.voters.extraContainers")
		}
	}
	if rq == nil {
		im.fail(p+" spec.containers", "no container named rqlite")
		return
	}
	im.container(fmt.Sprintf("%s spec.containers[%s]", p, rq.Name), rq)
}

func (im *importer) encode() ([]byte, error) {
	j, err := json.Marshal(im.spec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	prune(m)
	y, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if im.opts.SchemaRef != "" {
		fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n", im.opts.SchemaRef)
	}
	fmt.Fprintf(&b, "# Imported by `rqlite-fn import-manifests` from StatefulSet %s in namespace %q (rqlite's kubernetes-configuration manifests).\n", im.sts.Name, im.rep.Namespace)
	b.WriteString("# Runbook: README.md, \"Moving off the kubernetes-configuration manifests\"\n")
	b.Write(y)
	return b.Bytes(), nil
}

// prune drops the empty structs encoding/json writes for the spec's own fields.
func prune(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			prune(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func ptr[T any](v T) *T { return &v }
