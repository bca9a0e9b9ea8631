package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/shrink"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Consequence kinds. They are part of the JSON output's contract (docs/plan.md).
const (
	KindClusterCreated     = "cluster-created"
	KindClusterDeleted     = "cluster-deleted"
	KindClusterReplaced    = "cluster-replaced"
	KindStorageSize        = "storage-size"
	KindStorageClass       = "storage-class"
	KindImmutableField     = "immutable-field"
	KindRollingRestart     = "rolling-restart"
	KindImage              = "image"
	KindScaleUp            = "scale-up"
	KindShrink             = "shrink"
	KindQuorum             = "quorum"
	KindReadOnlyAdded      = "readonly-added"
	KindReadOnlyRemoved    = "readonly-removed"
	KindReadOnlyScale      = "readonly-scale"
	KindAutoscalingOn      = "autoscaling-on"
	KindAutoscalingOff     = "autoscaling-off"
	KindAutoscalingChanged = "autoscaling-changed"
	KindRecoveryOn         = "recovery-on"
	KindRecoveryOff        = "recovery-off"
	KindShrinkJob          = "shrink-job"
	KindPrune              = "prune"
)

// mutableStatefulSetSpec are the only spec fields the API server lets an update change; any other
// change is refused ("updates to statefulset spec for fields other than … are forbidden").
var mutableStatefulSetSpec = map[string]bool{
	"replicas": true, "ordinals": true, "template": true, "updateStrategy": true,
	"revisionHistoryLimit": true, "persistentVolumeClaimRetentionPolicy": true, "minReadySeconds": true,
}

// immutableFields are fields of other kinds an update cannot change, by path prefix.
var immutableFields = map[string][]string{
	"RoleBinding": {"roleRef"},
	"Job":         {"spec.selector", "spec.template"},
	"Service":     {"spec.clusterIP", "spec.clusterIPs"},
}

func (r *Report) add(severity, kind, msg string, details ...string) {
	if details == nil {
		details = []string{}
	}
	r.Consequences = append(r.Consequences, Consequence{Severity: severity, Kind: kind, Message: msg, Details: details})
}

func analyse(r *Report, o, n *side) {
	ov, nv := o.find("StatefulSet", model.ComponentVoter), n.find("StatefulSet", model.ComponentVoter)
	switch {
	case ov == nil && nv == nil:
		return
	case ov == nil:
		voters, _ := intAt(nv.body, "spec", "replicas")
		r.add(Info, KindClusterCreated, fmt.Sprintf("a new cluster: StatefulSet %s forms a %d-voter cluster on new volumes", nv.ref(), voters))
		return
	case nv == nil:
		r.add(Breaking, KindClusterDeleted, fmt.Sprintf("the cluster of StatefulSet %s is no longer rendered: a pruning apply deletes every pod of it", ov.ref()),
			dataFate(o, ov)...)
		pruned(r, o, n)
		return
	case ov.key != nv.key:
		r.add(Breaking, KindClusterReplaced,
			fmt.Sprintf("StatefulSet %s is replaced by %s: the new StatefulSet forms a new, empty cluster on new volumes; the data stays with the old one", ov.ref(), nv.ref()),
			migrateByBackup(ov, nv)...)
		pruned(r, o, n)
		return
	}
	image(r, ov, nv)
	for _, comp := range []string{model.ComponentVoter, model.ComponentReadOnly} {
		oldSts, newSts := o.find("StatefulSet", comp), n.find("StatefulSet", comp)
		if oldSts != nil && newSts != nil && oldSts.key == newSts.key {
			statefulSetChange(r, oldSts, newSts)
		}
	}
	voters(r, o, n, ov, nv)
	readOnly(r, o, n)
	recovery(r, o, n, nv)
	shrinkJob(r, o, n)
	otherImmutable(r, o, n)
	pruned(r, o, n)
}

// statefulSetChange reports immutable-field changes and rolling restarts of one StatefulSet.
func statefulSetChange(r *Report, oldSts, newSts *object) {
	fields := Diff(oldSts.body, newSts.body)
	var template, immutable []string
	for _, f := range fields {
		rest, ok := strings.CutPrefix(f, "spec.")
		if !ok {
			continue
		}
		top := rest
		if i := strings.IndexAny(rest, ".["); i >= 0 {
			top = rest[:i]
		}
		switch {
		case top == "template":
			template = append(template, f)
		case !mutableStatefulSetSpec[top]:
			immutable = append(immutable, f)
		}
	}
	if len(immutable) > 0 {
		storage(r, oldSts, newSts, immutable)
	}
	if len(template) > 0 {
		restart(r, newSts, template)
	}
}

func storage(r *Report, oldSts, newSts *object, fields []string) {
	oldVCT, _ := valueAt(oldSts.body, "spec", "volumeClaimTemplates").([]any)
	newVCT, _ := valueAt(newSts.body, "spec", "volumeClaimTemplates").([]any)
	var other []string
	storageField := func(f string) bool {
		return strings.HasSuffix(f, ".spec.resources.requests.storage") || strings.HasSuffix(f, ".spec.storageClassName")
	}
	for _, f := range fields {
		if !strings.HasPrefix(f, "spec.volumeClaimTemplates") || len(oldVCT) != len(newVCT) || !storageField(f) {
			other = append(other, f)
		}
	}
	if len(oldVCT) == len(newVCT) {
		for i := range oldVCT {
			oldSize, _ := valueAt(oldVCT[i], "spec", "resources", "requests", "storage").(string)
			newSize, _ := valueAt(newVCT[i], "spec", "resources", "requests", "storage").(string)
			oldClass, _ := valueAt(oldVCT[i], "spec", "storageClassName").(string)
			newClass, _ := valueAt(newVCT[i], "spec", "storageClassName").(string)
			claim, _ := valueAt(newVCT[i], "metadata", "name").(string)
			if oldClass != newClass {
				r.add(Breaking, KindStorageClass,
					fmt.Sprintf("StatefulSet %s: StorageClass %s → %s: volumeClaimTemplates cannot change on an existing StatefulSet, so applying fails", newSts.ref(), className(oldClass), className(newClass)),
					classMigration(newSts, claim, newClass)...)
			}
			if oldSize != newSize {
				sizeChange(r, newSts, claim, oldClass, oldSize, newSize)
			}
		}
	}
	if len(other) > 0 {
		sort.Strings(other)
		r.add(Breaking, KindImmutableField,
			fmt.Sprintf("StatefulSet %s: %s cannot change on an existing StatefulSet, so applying fails", newSts.ref(), strings.Join(other, ", ")),
			kubectl(newSts.namespace, "delete statefulset "+newSts.name+" --cascade=orphan")+"   # the pods keep running",
			"apply the new manifests: the StatefulSet is re-created with the new fields and adopts the running pods")
	}
}

func sizeChange(r *Report, newSts *object, claim, class, oldSize, newSize string) {
	oq, oerr := resource.ParseQuantity(oldSize)
	nq, nerr := resource.ParseQuantity(newSize)
	if oerr == nil && nerr == nil && nq.Cmp(oq) < 0 {
		r.add(Breaking, KindStorageSize,
			fmt.Sprintf("StatefulSet %s: volume size %s → %s: a PersistentVolumeClaim never shrinks, and volumeClaimTemplates cannot change on an existing StatefulSet", newSts.ref(), oldSize, newSize),
			"keep the current size, or move the data into a new cluster with the smaller size by backup and restore (rqlite GET /db/backup, POST /db/load)")
		return
	}
	sel := pvcSelector(newSts)
	check := "kubectl get storageclass " + class + " -o jsonpath='{.allowVolumeExpansion}' must print true"
	if class == "" {
		check = `kubectl get storageclass -o custom-columns='NAME:.metadata.name,DEFAULT:.metadata.annotations.storageclass\.kubernetes\.io/is-default-class,EXPANSION:.allowVolumeExpansion' must show EXPANSION true for the default class`
	}
	r.add(Breaking, KindStorageSize,
		fmt.Sprintf("StatefulSet %s: volume size %s → %s: volumeClaimTemplates cannot change on an existing StatefulSet, so applying fails; grow the volumes first", newSts.ref(), oldSize, newSize),
		"1. the StorageClass must allow expansion: "+check+"; if it does not, the volumes cannot grow: move the data as for a StorageClass change",
		fmt.Sprintf("2. grow every volume of the pool: %s -o name | xargs -I{} %s", kubectl(newSts.namespace, "get pvc -l "+sel),
			kubectl(newSts.namespace, `patch {} -p '{"spec":{"resources":{"requests":{"storage":"`+newSize+`"}}}}'`)),
		"3. "+kubectl(newSts.namespace, "delete statefulset "+newSts.name+" --cascade=orphan")+"   # the pods keep running, nothing restarts",
		fmt.Sprintf("4. apply the new manifests: StatefulSet %s is re-created with the new size and adopts the running pods and their grown PVCs (%s-%s-<ordinal>)", newSts.name, claim, newSts.name))
}

func classMigration(newSts *object, claim, newClass string) []string {
	steps := []string{
		"1. " + kubectl(newSts.namespace, "delete statefulset "+newSts.name+" --cascade=orphan") + "   # the pods keep running",
		fmt.Sprintf("2. apply the new manifests: the StatefulSet is re-created and adopts the running pods and their PVCs, which keep their class (a PVC's StorageClass never changes): only PVCs created from now on use %s", className(newClass)),
	}
	pod := newSts.name + "-<ordinal>"
	pvc := claim + "-" + pod
	if newSts.component() == model.ComponentVoter {
		steps = append(steps, fmt.Sprintf("3. to move the data, replace one voter at a time and wait for it to be Ready before the next: remove it from the Raft configuration (curl -XDELETE http://%s:%d/remove -d '{\"id\":\"%s\"}', e.g. through kubectl port-forward), then %s && %s; it restarts on an empty %s volume and joins as a new member",
			clientService(newSts), model.HTTPPort, pod, kubectl(newSts.namespace, "delete pvc "+pvc+" --wait=false"), kubectl(newSts.namespace, "delete pod "+pod), className(newClass)))
	} else {
		steps = append(steps, fmt.Sprintf("3. to move the data, replace one pod at a time: %s && %s; a read-only node leaves the cluster when it stops and rejoins with a fresh volume", kubectl(newSts.namespace, "delete pvc "+pvc+" --wait=false"), kubectl(newSts.namespace, "delete pod "+pod)))
	}
	return steps
}

func restart(r *Report, sts *object, fields []string) {
	rs := Restart{Kind: sts.kind, Name: sts.name, Namespace: sts.namespace, Component: sts.component(), Fields: fields}
	pods, fixed := intAt(sts.body, "spec", "replicas")
	if fixed {
		rs.Pods = &pods
	}
	r.Restarts = append(r.Restarts, rs)
	count := fmt.Sprintf("%d pods", pods)
	if !fixed {
		count = "the autoscaled pods"
	}
	sev := Info
	var msg string
	switch {
	case sts.component() == model.ComponentVoter && pods == 1:
		sev, msg = Warning, fmt.Sprintf("StatefulSet %s: its pod template changed, and the only voter restarts: the database is unavailable until the pod is back", sts.ref())
	case sts.component() == model.ComponentVoter && pods == 2:
		sev, msg = Warning, fmt.Sprintf("StatefulSet %s: its pod template changed, so both voters restart one after the other; a 2-voter cluster needs both for a quorum, so writes stop while each restarts", sts.ref())
	case sts.component() == model.ComponentVoter:
		msg = fmt.Sprintf("StatefulSet %s: its pod template changed, so its %s restart one at a time, each after the previous is Ready (caught up with the leader); a quorum stays up throughout", sts.ref(), count)
	default:
		msg = fmt.Sprintf("StatefulSet %s: its pod template changed, so %s restart one at a time; each leaves the cluster as it stops and rejoins as it starts", sts.ref(), count)
	}
	r.add(sev, KindRollingRestart, msg, fields...)
}

func image(r *Report, ov, nv *object) {
	oldImage, newImage := containerImage(ov, model.ContainerName), containerImage(nv, model.ContainerName)
	if oldImage == newImage || oldImage == "" || newImage == "" {
		return
	}
	sev, details := Info, []string{"every rqlite pod restarts with the new image (see the rolling restarts)"}
	oldV, oldOK := semver(oldImage)
	newV, newOK := semver(newImage)
	switch {
	case oldOK && newOK && compareVersions(newV, oldV) < 0:
		sev = Warning
		details = append(details, "this is a downgrade: rqlite upgrades data in place and documents upgrades, not downgrades; restore from a backup taken with the old release instead")
	case oldOK && newOK && newV[0] != oldV[0]:
		sev = Warning
		details = append(details, fmt.Sprintf("a major release (%d → %d): read rqlite's release notes for upgrade steps before applying", oldV[0], newV[0]))
	}
	r.add(sev, KindImage, fmt.Sprintf("rqlite image %s → %s", oldImage, newImage), details...)
}

func voters(r *Report, o, n *side, ov, nv *object) {
	from, _ := intAt(ov.body, "spec", "replicas")
	to, _ := intAt(nv.body, "spec", "replicas")
	if from == to {
		return
	}
	if to > from {
		r.add(Info, KindScaleUp, fmt.Sprintf("voters %d → %d: %s start and join as voters; no running pod restarts", from, to, podRange(nv.name, from, to)),
			"bootstrap-expect (from the ConfigMap) matters only to a node without data, so the running nodes are unaffected; the new ones join the running cluster")
	} else {
		shrinkVoters(r, n, nv, from, to)
	}
	quorum(r, o, n, from, to)
}

func shrinkVoters(r *Report, n *side, nv *object, from, to int) {
	steps, err := shrink.Plan(from, to)
	if err != nil {
		r.add(Breaking, KindShrink, fmt.Sprintf("voters %d → %d cannot be planned: %v", from, to, err))
		return
	}
	s := &Shrink{From: from, To: to, Batches: []Batch{}}
	for _, st := range steps {
		b := Batch{From: st.From, To: st.To, Remove: []string{}, RequiresRemovedAlive: st.RequiresRemovedAlive}
		for _, ord := range st.Remove {
			b.Remove = append(b.Remove, fmt.Sprintf("%s-%d", nv.name, ord))
		}
		s.Batches = append(s.Batches, b)
	}
	r.Shrink = s
	retained := fmt.Sprintf("the removed voters' PVCs (%s) are %s", pvcRange(nv, to, from), retention(nv, "whenScaled"))
	job := n.find("Job", model.ComponentShrink)
	if job == nil {
		s.Job = ""
		if to < shrink.Quorum(from) {
			r.add(Breaking, KindShrink,
				fmt.Sprintf("voters %d → %d without the shrink Job (spec.shrink.enabled is false): the %d voters left are not a majority of the %d-voter configuration, so the cluster loses its quorum", from, to, to, from),
				"enable spec.shrink, or lower voters in the batches listed under shrink, removing each batch from the Raft configuration (DELETE /remove) before applying its lower count")
		} else {
			r.add(Warning, KindShrink,
				fmt.Sprintf("voters %d → %d without the shrink Job (spec.shrink.enabled is false): the removed voters stay in the Raft configuration as unreachable members until removed by hand, lowering the fault tolerance", from, to),
				fmt.Sprintf("after applying, remove each one: curl -XDELETE http://%s:%d/remove -d '{\"id\":\"<pod>\"}'", clientService(nv), model.HTTPPort), retained)
		}
		return
	}
	s.Job = job.name
	order := []string{
		fmt.Sprintf("the Job must complete before StatefulSet %s is applied: it lowers the StatefulSet's replicas itself, batch by batch, so applying the StatefulSet afterwards changes nothing", nv.ref()),
		"Argo CD runs it first as a PreSync hook",
	}
	if dep, _ := valueAt(nv.body, "metadata", "annotations", "config.kubernetes.io/depends-on").(string); dep != "" {
		order = append(order, "kpt live apply waits for it: the StatefulSet depends on it (config.kubernetes.io/depends-on)")
	} else {
		order = append(order, "kpt live apply cannot order it: the spec has no metadata.namespace, so the StatefulSet carries no depends-on")
	}
	order = append(order, fmt.Sprintf("with kubectl: apply the Job and its ServiceAccount, Role and RoleBinding first, then %s, then the rest",
		kubectl(job.namespace, "wait --for=condition=complete job/"+job.name+" --timeout=1h")))
	r.add(Warning, KindShrink,
		fmt.Sprintf("voters %d → %d: the shrink Job %s removes %d voters in %d batch(es), each leaving a quorum up", from, to, job.name, from-to, len(steps)),
		append(order, retained)...)
}

func quorum(r *Report, o, n *side, from, to int) {
	pdb := func(s *side) string {
		p := s.find("PodDisruptionBudget", model.ComponentVoter)
		if p == nil {
			return "none"
		}
		if v, ok := intAt(p.body, "spec", "maxUnavailable"); ok {
			return strconv.Itoa(v)
		}
		if v, ok := valueAt(p.body, "spec", "maxUnavailable").(string); ok {
			return v
		}
		return "unset"
	}
	sev := Info
	var details []string
	switch {
	case to == 1:
		sev = Warning
		details = append(details, "a single voter has no redundancy: losing its volume loses the database")
	case to%2 == 0:
		sev = Warning
		details = append(details, fmt.Sprintf("%d voters tolerate no more failures than %d: use %d or %d", to, to-1, to-1, to+1))
	}
	tol := func(v int) int { return v - shrink.Quorum(v) }
	r.add(sev, KindQuorum,
		fmt.Sprintf("voters %d → %d: quorum %d → %d, tolerates %d → %d failed voters; PodDisruptionBudget maxUnavailable %s → %s",
			from, to, shrink.Quorum(from), shrink.Quorum(to), tol(from), tol(to), pdb(o), pdb(n)),
		details...)
}

func readOnly(r *Report, o, n *side) {
	oldSts, newSts := o.find("StatefulSet", model.ComponentReadOnly), n.find("StatefulSet", model.ComponentReadOnly)
	oh, nh := o.find("HorizontalPodAutoscaler", model.ComponentReadOnly), n.find("HorizontalPodAutoscaler", model.ComponentReadOnly)
	switch {
	case oldSts == nil && newSts == nil:
		return
	case oldSts == nil:
		size := "no pods yet (replicas 0)"
		if v, ok := intAt(newSts.body, "spec", "replicas"); ok && v > 0 {
			size = podRange(newSts.name, 0, v) + " join as non-voters"
		} else if nh != nil {
			size = fmt.Sprintf("HorizontalPodAutoscaler %s runs %s pods, which join as non-voters", nh.name, hpaRange(nh))
		}
		r.add(Info, KindReadOnlyAdded, fmt.Sprintf("read-only pool added: StatefulSet %s: %s; the voters do not restart", newSts.ref(), size),
			fmt.Sprintf("clients read from it through Service %s", clientService(newSts)))
		return
	case newSts == nil:
		details := []string{}
		if hasArg(oldSts, "-raft-cluster-remove-shutdown=true") {
			details = append(details, "its pods remove themselves from the Raft configuration as they stop (-raft-cluster-remove-shutdown), so no dead members are left behind")
		}
		details = append(details,
			fmt.Sprintf("clients reading through Service %s must move to %s first", clientService(oldSts), clientService(o.find("StatefulSet", model.ComponentVoter))),
			"only a pruning apply (Argo CD prune, kpt live apply, kubectl apply --prune) deletes the pool's objects; plain kubectl apply leaves the pods running",
			fmt.Sprintf("when the StatefulSet is deleted its PVCs are %s", retention(oldSts, "whenDeleted")))
		if retentionPolicy(oldSts, "whenDeleted") != "Delete" {
			details = append(details, "to delete them: "+kubectl(oldSts.namespace, "delete pvc -l "+pvcSelector(oldSts)))
		}
		what := "its Services and PodDisruptionBudget"
		if oh != nil {
			what = "its Services, PodDisruptionBudget and HorizontalPodAutoscaler"
		}
		r.add(Warning, KindReadOnlyRemoved, fmt.Sprintf("read-only pool removed: StatefulSet %s and %s are no longer rendered", oldSts.ref(), what), details...)
		return
	}
	oldN, oldFixed := intAt(oldSts.body, "spec", "replicas")
	newN, newFixed := intAt(newSts.body, "spec", "replicas")
	switch {
	case oldFixed && !newFixed && nh != nil:
		r.add(Warning, KindAutoscalingOn,
			fmt.Sprintf("read-only pool autoscaled: HorizontalPodAutoscaler %s sizes StatefulSet %s (%s pods, now %d); the StatefulSet no longer sets spec.replicas", nh.ref(), newSts.ref(), hpaRange(nh), oldN),
			"removing spec.replicas from an applied StatefulSet resets it to 1 unless another field manager owns it: hand the field over first (Kubernetes: migrating to horizontal autoscaling)",
			"client-side apply: "+kubectl(newSts.namespace, "apply edit-last-applied statefulset/"+newSts.name)+", delete spec.replicas, save; then apply the new manifests",
			fmt.Sprintf("server-side apply (kpt live apply, Argo CD ServerSideApply): apply a StatefulSet holding only spec.replicas: %d with --server-side --field-manager=handover-to-hpa --validate=false, then apply the new manifests", oldN))
	case !oldFixed && newFixed && oh != nil:
		r.add(Warning, KindAutoscalingOff,
			fmt.Sprintf("read-only pool no longer autoscaled: StatefulSet %s sets replicas: %d and HorizontalPodAutoscaler %s goes away", newSts.ref(), newN, oh.ref()),
			"the HorizontalPodAutoscaler keeps resizing the pool until it is deleted: only a pruning apply deletes it")
	case !oldFixed && !newFixed && oh != nil && nh != nil:
		if a, b := hpaRange(oh), hpaRange(nh); a != b || len(Diff(oh.body, nh.body)) > 0 {
			r.add(Info, KindAutoscalingChanged, fmt.Sprintf("read-only autoscaling: HorizontalPodAutoscaler %s: %s → %s pods", nh.ref(), a, b))
		}
	case oldFixed && newFixed && oldN < newN:
		r.add(Info, KindReadOnlyScale, fmt.Sprintf("read-only pool %d → %d: %s join as non-voters", oldN, newN, podRange(newSts.name, oldN, newN)))
	case oldFixed && newFixed && oldN > newN:
		r.add(Info, KindReadOnlyScale, fmt.Sprintf("read-only pool %d → %d: %s stop and remove themselves from the cluster", oldN, newN, podRange(newSts.name, newN, oldN)),
			fmt.Sprintf("their PVCs (%s) are %s", pvcRange(newSts, newN, oldN), retention(newSts, "whenScaled")))
	}
}

func recovery(r *Report, o, n *side, nv *object) {
	was, _ := o.configData(model.KeyStaticPeers)
	is, _ := n.configData(model.KeyStaticPeers)
	voters, _ := intAt(nv.body, "spec", "replicas")
	switch {
	case was != "true" && is == "true":
		r.add(Warning, KindRecoveryOn,
			fmt.Sprintf("recovery switched on: each voter (%s) installs peers.json from the ConfigMap at its next start; this change restarts nothing", podRange(nv.name, 0, voters)),
			"use it only to recover from a permanent loss of quorum: restart the voters so they start with peers.json, wait for a leader, then switch it off again",
			"runbook: "+shrink.RecoveryRunbook)
	case was == "true" && is != "true":
		r.add(Info, KindRecoveryOff, "recovery switched off: each voter deletes its copy of peers.json at its next start; this change restarts nothing")
	}
}

func shrinkJob(r *Report, o, n *side) {
	oj, nj := o.find("Job", model.ComponentShrink), n.find("Job", model.ComponentShrink)
	if oj == nil || nj == nil || oj.name == nj.name || r.Shrink != nil {
		return
	}
	r.add(Info, KindShrinkJob, fmt.Sprintf("the shrink Job is re-created as %s (was %s) because its template changed; with no voter to remove it exits at once", nj.name, oj.name))
}

func otherImmutable(r *Report, o, n *side) {
	for _, no := range n.objects {
		oo := o.byKey[no.key]
		prefixes := immutableFields[no.kind]
		if oo == nil || len(prefixes) == 0 || oo.name != no.name {
			continue
		}
		var hit []string
		for _, f := range Diff(oo.body, no.body) {
			for _, p := range prefixes {
				if f == p || strings.HasPrefix(f, p+".") || strings.HasPrefix(f, p+"[") {
					hit = append(hit, f)
					break
				}
			}
		}
		if len(hit) > 0 {
			r.add(Breaking, KindImmutableField,
				fmt.Sprintf("%s %s: %s cannot change on an existing object, so applying fails", no.kind, no.ref(), strings.Join(hit, ", ")),
				"delete it first: "+kubectl(no.namespace, "delete "+strings.ToLower(no.kind)+" "+no.name)+", then apply the new manifests")
		}
	}
}

func pruned(r *Report, o, n *side) {
	var gone []string
	for _, oo := range o.objects {
		if n.byKey[oo.key] == nil {
			gone = append(gone, oo.kind+" "+oo.ref())
		}
	}
	if len(gone) == 0 {
		return
	}
	r.add(Info, KindPrune,
		fmt.Sprintf("%d object(s) are no longer rendered: only a pruning apply deletes them (Argo CD with prune, kpt live apply, kubectl apply --prune); plain kubectl apply leaves them in place", len(gone)),
		gone...)
}

// dataFate says what happens to a deleted cluster's volumes, from its retention policy.
func dataFate(o *side, sts *object) []string {
	var out []string
	for _, comp := range []string{model.ComponentVoter, model.ComponentReadOnly} {
		s := o.find("StatefulSet", comp)
		if s == nil {
			continue
		}
		out = append(out, fmt.Sprintf("PVCs of StatefulSet %s (%s) are %s", s.ref(), pvcPattern(s), retention(s, "whenDeleted")))
	}
	return append(out, "take a backup first: curl -s http://"+clientService(sts)+fmt.Sprintf(":%d/db/backup -o backup.sqlite (e.g. through kubectl port-forward)", model.HTTPPort))
}

func migrateByBackup(ov, nv *object) []string {
	return []string{
		fmt.Sprintf("renaming a cluster or moving it to another namespace creates a new one; once the old StatefulSet %s is pruned its pods stop and its PVCs (%s) are %s", ov.ref(), pvcPattern(ov), retention(ov, "whenDeleted")),
		fmt.Sprintf("to keep the data: take a backup from the old cluster before it is pruned (curl -s http://%s:%d/db/backup -o backup.sqlite, e.g. through kubectl port-forward)", clientService(ov), model.HTTPPort),
		fmt.Sprintf("then load it into the new one: curl -XPOST http://%s:%d/db/load -H 'Content-Type: application/octet-stream' --data-binary @backup.sqlite", clientService(nv), model.HTTPPort),
		"clients must move to the new Services",
	}
}

// retention says what the StatefulSet controller does with PVCs, as a phrase after "are".
func retention(sts *object, when string) string {
	if p := retentionPolicy(sts, when); p == "Delete" {
		return "deleted with them (" + when + ": Delete)"
	}
	return "kept (" + when + ": Retain): delete them once they are no longer needed"
}

func retentionPolicy(sts *object, when string) string {
	p, _ := valueAt(sts.body, "spec", "persistentVolumeClaimRetentionPolicy", when).(string)
	if p == "" {
		return "Retain" // the API server's default
	}
	return p
}

func claimName(sts *object) string {
	vcts, _ := valueAt(sts.body, "spec", "volumeClaimTemplates").([]any)
	if len(vcts) == 0 {
		return "data"
	}
	name, _ := valueAt(vcts[0], "metadata", "name").(string)
	return name
}

func pvcPattern(sts *object) string { return claimName(sts) + "-" + sts.name + "-<ordinal>" }

func pvcRange(sts *object, from, to int) string {
	return podRange(claimName(sts)+"-"+sts.name, from, to)
}

// pvcSelector selects a pool's PVCs: they carry the labels of the claim template.
func pvcSelector(sts *object) string {
	vcts, _ := valueAt(sts.body, "spec", "volumeClaimTemplates").([]any)
	var labels map[string]any
	if len(vcts) > 0 {
		labels = mapAt(vcts[0], "metadata", "labels")
	}
	if len(labels) == 0 {
		labels = mapAt(sts.body, "spec", "selector", "matchLabels")
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, labels[k]))
	}
	return strings.Join(parts, ",")
}

// podRange names pods from..to-1 of a StatefulSet, compactly.
func podRange(sts string, from, to int) string {
	switch {
	case to-from <= 0:
		return "no pods"
	case to-from == 1:
		return fmt.Sprintf("%s-%d", sts, from)
	case to-from == 2:
		return fmt.Sprintf("%s-%d and %s-%d", sts, from, sts, to-1)
	}
	return fmt.Sprintf("%s-%d … %s-%d", sts, from, sts, to-1)
}

func hpaRange(h *object) string {
	lo, _ := intAt(h.body, "spec", "minReplicas")
	hi, _ := intAt(h.body, "spec", "maxReplicas")
	return fmt.Sprintf("%d–%d", lo, hi)
}

func clientService(sts *object) string { return sts.client }

func containerImage(sts *object, name string) string {
	cs, _ := valueAt(sts.body, "spec", "template", "spec", "containers").([]any)
	for _, c := range cs {
		if n, _ := valueAt(c, "name").(string); n == name {
			img, _ := valueAt(c, "image").(string)
			return img
		}
	}
	return ""
}

func hasArg(sts *object, arg string) bool {
	cs, _ := valueAt(sts.body, "spec", "template", "spec", "containers").([]any)
	for _, c := range cs {
		args, _ := valueAt(c, "args").([]any)
		for _, a := range args {
			if a == arg {
				return true
			}
		}
	}
	return false
}

func kubectl(namespace, rest string) string {
	if namespace == "" {
		return "kubectl " + rest
	}
	return "kubectl -n " + namespace + " " + rest
}

func className(c string) string {
	if c == "" {
		return "(cluster default)"
	}
	return c
}

// semver reads MAJOR.MINOR.PATCH from an image's tag (a leading v is allowed).
func semver(image string) ([3]int, bool) {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return [3]int{}, false
	}
	parts := strings.Split(strings.TrimPrefix(ref[i+1:], "v"), ".")
	if len(parts) != 3 {
		return [3]int{}, false
	}
	var v [3]int
	for j, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return [3]int{}, false
		}
		v[j] = n
	}
	return v, true
}

func compareVersions(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}
