package kustomize

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

type overlayCase struct {
	name, dir string
	voters    int
	readOnly  bool // an autoscaled read-only pool
	namespace string
	cluster   string // metadata.name of the spec the function sees
}

var overlayCases = []overlayCase{
	{name: "base", dir: "base", voters: 3, namespace: "rqlite", cluster: "rqlite"},
	{name: "three-node", dir: "overlays/three-node", voters: 3, namespace: "rqlite", cluster: "rqlite"},
	{name: "nine-node", dir: "overlays/nine-node", voters: 9, namespace: "rqlite", cluster: "rqlite"},
	{name: "readonly-pool", dir: "overlays/readonly-pool", voters: 3, readOnly: true, namespace: "rqlite", cluster: "rqlite"},
	{name: "namespaced", dir: "overlays/namespaced", voters: 3, readOnly: true, namespace: "databases", cluster: "orders-rqlite"},
}

func (c overlayCase) wantKinds() map[string]int {
	// ServiceAccount, Role, RoleBinding and Job (two of them ServiceAccounts) belong to the voter
	// shrink Job the function renders for every cluster.
	k := map[string]int{
		"ServiceAccount": 2, "ConfigMap": 1, "Service": 2, "StatefulSet": 1, "PodDisruptionBudget": 1,
		"NetworkPolicy": 2, "Role": 1, "RoleBinding": 1, "Job": 1,
	}
	if c.readOnly {
		k["Service"], k["StatefulSet"], k["PodDisruptionBudget"], k["HorizontalPodAutoscaler"] = 4, 2, 2, 1
	}
	return k
}

// TestOverlays builds the base and every overlay with the real kustomize and checks what a
// reviewer would: the right objects, the right counts in the StatefulSets and the ConfigMap, no
// tool annotations in the output, and every cross-reference intact.
func TestOverlays(t *testing.T) {
	for _, c := range overlayCases {
		t.Run(c.name, func(t *testing.T) {
			r := kustomizeBuild(t, c.dir, execFlags...)
			if r.stderr != "" {
				t.Errorf("a clean overlay must build without warnings, stderr:\n%s", r.stderr)
			}
			objs := decode(t, r.stdout)
			if got, want := fmt.Sprint(kindCounts(objs)), fmt.Sprint(c.wantKinds()); got != want {
				t.Errorf("kinds = %s, want %s", got, want)
			}

			voters := find(t, objs, "StatefulSet", c.cluster)
			spec := voters["spec"].(map[string]any)
			if got := spec["replicas"]; got != float64(c.voters) {
				t.Errorf("voter replicas = %v, want %d", got, c.voters)
			}
			var cm corev1.ConfigMap
			find(t, objs, "ConfigMap", c.cluster+"-config").into(t, &cm)
			want := strconv.Itoa(c.voters)
			if cm.Data[model.KeyBootstrapExpect] != want || cm.Data[model.KeyVoters] != want {
				t.Errorf("ConfigMap bootstrap-expect %q voters %q, want %s", cm.Data[model.KeyBootstrapExpect], cm.Data[model.KeyVoters], want)
			}
			var peers []model.Peer
			if err := json.Unmarshal([]byte(cm.Data[model.KeyPeersJSON]), &peers); err != nil || len(peers) != c.voters {
				t.Errorf("peers.json has %d entries (%v), want %d", len(peers), err, c.voters)
			}
			if c.readOnly {
				if cm.Data[model.KeyReadOnly] != "autoscaled" {
					t.Errorf("readonly-replicas = %q, want autoscaled", cm.Data[model.KeyReadOnly])
				}
				ro := find(t, objs, "StatefulSet", c.cluster+"-readonly")
				if r, ok := ro["spec"].(map[string]any)["replicas"]; ok {
					t.Errorf("the autoscaled read-only StatefulSet must leave replicas to the HPA, has replicas: %v", r)
				}
				var hpa autoscalingv2.HorizontalPodAutoscaler
				find(t, objs, "HorizontalPodAutoscaler", c.cluster+"-readonly").into(t, &hpa)
				if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" || hpa.Spec.ScaleTargetRef.Name != c.cluster+"-readonly" ||
					*hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 6 {
					t.Errorf("HPA target %+v min %d max %d", hpa.Spec.ScaleTargetRef, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
				}
			}

			for _, o := range objs {
				if o.kind() == "RqliteSpec" {
					t.Errorf("the local-config spec reached the output")
				}
				if o.namespace() != c.namespace {
					t.Errorf("%s %s in namespace %q, want %q", o.kind(), o.name(), o.namespace(), c.namespace)
				}
				anns := o.strMap("annotations")
				if anns[model.AnnotationOwner] != c.cluster {
					t.Errorf("%s %s: %s = %q, want %q", o.kind(), o.name(), model.AnnotationOwner, anns[model.AnnotationOwner], c.cluster)
				}
				for k := range anns {
					if k == "config.kubernetes.io/local-config" || k == "config.kubernetes.io/function" ||
						strings.HasPrefix(k, "internal.config.kubernetes.io/") || strings.HasPrefix(k, "config.k8s.io/") {
						t.Errorf("%s %s carries tool annotation %s", o.kind(), o.name(), k)
					}
				}
			}

			if rep := verify.Check(docs(objs)); !rep.OK() {
				t.Errorf("verify: %v", rep.Problems)
			}
			v := execIn(t, repoRoot, toolEnv(t), []byte(r.stdout), fnBin, "verify")
			if v.code != 0 || !strings.HasPrefix(v.stdout, "ok: 1 cluster(s)") {
				t.Errorf("rqlite-fn verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
			}

			if again := kustomizeBuild(t, c.dir, execFlags...); again.stdout != r.stdout {
				t.Errorf("two builds differ:\n%s", firstDifference(r.stdout, again.stdout))
			}
		})
	}
}

func docs(objs []obj) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

// TestOverlayGolden keeps the reviewed output of every overlay in testdata/overlays/<name>.yaml;
// `go test ./e2e/kustomize -update` (or `make golden`) rewrites them.
func TestOverlayGolden(t *testing.T) {
	for _, c := range overlayCases {
		t.Run(c.name, func(t *testing.T) {
			golden(t, repoPath("testdata", "overlays", c.name+".yaml"), kustomizeBuild(t, c.dir, execFlags...).stdout)
		})
	}
}

// TestNamespacedOverlayCrossReferences spells out, one assertion per reference, that putting
// namespace, namePrefix and labels on the spec keeps every name consistent.
func TestNamespacedOverlayCrossReferences(t *testing.T) {
	objs := decode(t, kustomizeBuild(t, "overlays/namespaced", execFlags...).stdout)
	const (
		ns       = "databases"
		name     = "orders-rqlite"
		headless = name + "-headless"
		config   = name + "-config"
	)
	wantLabels := map[string]string{"team": "orders", "environment": "production"}

	for _, o := range objs {
		if o.namespace() != ns {
			t.Errorf("%s %s in namespace %q", o.kind(), o.name(), o.namespace())
		}
		if !strings.HasPrefix(o.name(), name) {
			t.Errorf("%s %s lacks the prefix", o.kind(), o.name())
		}
		for k, v := range wantLabels {
			if o.strMap("labels")[k] != v {
				t.Errorf("%s %s: label %s=%q, want %q", o.kind(), o.name(), k, o.strMap("labels")[k], v)
			}
		}
	}

	var voters, ro appsv1.StatefulSet
	find(t, objs, "StatefulSet", name).into(t, &voters)
	find(t, objs, "StatefulSet", name+"-readonly").into(t, &ro)
	for _, s := range []*appsv1.StatefulSet{&voters, &ro} {
		labels := s.Spec.Template.Labels
		for k, v := range wantLabels {
			if labels[k] != v {
				t.Errorf("StatefulSet %s pod label %s=%q", s.Name, k, labels[k])
			}
		}
		if !subset(s.Spec.Selector.MatchLabels, labels) {
			t.Errorf("StatefulSet %s selector %v does not select its pods %v", s.Name, s.Spec.Selector.MatchLabels, labels)
		}
		var svc corev1.Service
		find(t, objs, "Service", s.Spec.ServiceName).into(t, &svc)
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || !subset(svc.Spec.Selector, labels) {
			t.Errorf("StatefulSet %s serviceName %s: clusterIP %q selector %v", s.Name, s.Spec.ServiceName, svc.Spec.ClusterIP, svc.Spec.Selector)
		}
		if s.Spec.Template.Spec.ServiceAccountName != name {
			t.Errorf("StatefulSet %s serviceAccountName %q", s.Name, s.Spec.Template.Spec.ServiceAccountName)
		}
		find(t, objs, "ServiceAccount", s.Spec.Template.Spec.ServiceAccountName)
		args := s.Spec.Template.Spec.Containers[0].Args
		wantArgs := []string{
			"-raft-adv-addr=$(POD_NAME)." + s.Spec.ServiceName + ":4002",
			"-http-adv-addr=$(POD_NAME)." + s.Spec.ServiceName + ".$(POD_NAMESPACE).svc.cluster.local:4001",
			`-disco-config={"name":"` + headless + `"}`,
		}
		for _, w := range wantArgs {
			if !contains(args, w) {
				t.Errorf("StatefulSet %s args lack %s: %v", s.Name, w, args)
			}
		}
		for _, ct := range append(s.Spec.Template.Spec.InitContainers, s.Spec.Template.Spec.Containers...) {
			for _, e := range ct.Env {
				if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil && ref.ConfigMapKeyRef.Name != config {
					t.Errorf("StatefulSet %s env %s reads ConfigMap %q", s.Name, e.Name, ref.ConfigMapKeyRef.Name)
				}
			}
		}
	}
	if voters.Spec.ServiceName != headless || ro.Spec.ServiceName != name+"-readonly-headless" {
		t.Errorf("serviceNames %q %q", voters.Spec.ServiceName, ro.Spec.ServiceName)
	}
	for _, v := range voters.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name != config {
			t.Errorf("volume %s mounts ConfigMap %q", v.Name, v.ConfigMap.Name)
		}
	}

	var cm corev1.ConfigMap
	find(t, objs, "ConfigMap", config).into(t, &cm)
	var peers []model.Peer
	if err := json.Unmarshal([]byte(cm.Data[model.KeyPeersJSON]), &peers); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers {
		pod := fmt.Sprintf("%s-%d", name, i)
		if p.ID != pod || p.Address != pod+"."+headless+":4002" || p.NonVoter {
			t.Errorf("peers.json[%d] = %+v, want id %s at %s.%s:4002", i, p, pod, pod, headless)
		}
	}

	for _, svcName := range []string{name, headless, name + "-readonly", name + "-readonly-headless"} {
		var svc corev1.Service
		find(t, objs, "Service", svcName).into(t, &svc)
		target := &voters
		if strings.Contains(svcName, "readonly") {
			target = &ro
		}
		if !subset(svc.Spec.Selector, target.Spec.Template.Labels) {
			t.Errorf("Service %s selector %v does not select StatefulSet %s", svcName, svc.Spec.Selector, target.Name)
		}
	}
	for _, pdbName := range []string{name, name + "-readonly"} {
		var pdb policyv1.PodDisruptionBudget
		find(t, objs, "PodDisruptionBudget", pdbName).into(t, &pdb)
		target := &voters
		if pdbName != name {
			target = &ro
		}
		if !subset(pdb.Spec.Selector.MatchLabels, target.Spec.Template.Labels) {
			t.Errorf("PDB %s selector %v does not select StatefulSet %s", pdbName, pdb.Spec.Selector.MatchLabels, target.Name)
		}
	}
	var np networkingv1.NetworkPolicy
	find(t, objs, "NetworkPolicy", name).into(t, &np)
	for _, s := range []*appsv1.StatefulSet{&voters, &ro} {
		if !subset(np.Spec.PodSelector.MatchLabels, s.Spec.Template.Labels) {
			t.Errorf("NetworkPolicy does not cover StatefulSet %s", s.Name)
		}
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	find(t, objs, "HorizontalPodAutoscaler", name+"-readonly").into(t, &hpa)
	if hpa.Spec.ScaleTargetRef.Name != ro.Name || ro.Spec.Replicas != nil {
		t.Errorf("HPA targets %q; read-only replicas %v", hpa.Spec.ScaleTargetRef.Name, ro.Spec.Replicas)
	}

	// The shrink Job and its RBAC name the voters and the ConfigMap too.
	var rb rbacv1.RoleBinding
	find(t, objs, "RoleBinding", name+"-shrink").into(t, &rb)
	if rb.RoleRef.Name != name+"-shrink" || rb.Subjects[0].Name != name+"-shrink" || rb.Subjects[0].Namespace != ns {
		t.Errorf("RoleBinding roleRef %q subject %+v", rb.RoleRef.Name, rb.Subjects[0])
	}
	var role rbacv1.Role
	find(t, objs, "Role", name+"-shrink").into(t, &role)
	for _, rule := range role.Rules {
		for _, rn := range rule.ResourceNames {
			if rn != name && rn != config {
				t.Errorf("Role grants access to %q", rn)
			}
		}
	}
	jobs := ofKind(objs, "Job")
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs", len(jobs))
	}
	var job struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	jobs[0].into(t, &job)
	if sa := job.Spec.Template.Spec.ServiceAccountName; sa != rb.Subjects[0].Name {
		t.Errorf("Job runs as %q, the RoleBinding binds %q", sa, rb.Subjects[0].Name)
	}
	for _, w := range []string{"--statefulset=" + name, "--headless=" + headless, "--rqlite-url=http://" + name + ":4001"} {
		if !contains(job.Spec.Template.Spec.Containers[0].Args, w) {
			t.Errorf("shrink Job args lack %s: %v", w, job.Spec.Template.Spec.Containers[0].Args)
		}
	}
	deps := find(t, objs, "StatefulSet", name).strMap("annotations")["config.kubernetes.io/depends-on"]
	if deps != "batch/namespaces/"+ns+"/Job/"+jobs[0].name() {
		t.Errorf("depends-on %q, want the shrink Job %s/%s", deps, ns, jobs[0].name())
	}

	if rep := verify.Check(docs(objs)); !rep.OK() {
		t.Errorf("verify: %v", rep.Problems)
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWithoutEnableExecRendersNothing proves the trap the Argo CD plugin guards against: with
// --enable-alpha-plugins but without --enable-exec, kustomize skips the exec generator, prints
// nothing and exits 0. Without any flag it at least fails.
func TestWithoutEnableExecRendersNothing(t *testing.T) {
	for _, c := range overlayCases {
		t.Run(c.name, func(t *testing.T) {
			r := kustomizeBuild(t, c.dir, "--enable-alpha-plugins")
			if r.stdout != "" || r.stderr != "" {
				t.Errorf("want silent empty output, got stdout %d bytes, stderr %q", len(r.stdout), r.stderr)
			}
		})
	}
	r := execIn(t, repoRoot, toolEnv(t), nil, kustomizeTool(t), "build", "base")
	if r.code == 0 || !strings.Contains(r.stderr, "external plugins disabled") {
		t.Errorf("without flags: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestOuterNamePrefixBreaksNamesInValues shows why namePrefix belongs on the spec: on the layer
// above, kustomize renames the objects and fixes the reference fields it knows (serviceName,
// ConfigMap and ServiceAccount names), builds without complaint, and leaves every name the
// function wrote into values stale. `rqlite-fn verify` names each one.
func TestOuterNamePrefixBreaksNamesInValues(t *testing.T) {
	r := kustomizeBuild(t, "e2e/kustomize/testdata/outer-name-prefix", execFlags...)
	objs := decode(t, r.stdout)
	var sts appsv1.StatefulSet
	find(t, objs, "StatefulSet", "team-rqlite").into(t, &sts)
	if sts.Spec.ServiceName != "team-rqlite-headless" || sts.Spec.Template.Spec.ServiceAccountName != "team-rqlite" {
		t.Errorf("kustomize did not rewrite the reference fields: serviceName %q serviceAccountName %q", sts.Spec.ServiceName, sts.Spec.Template.Spec.ServiceAccountName)
	}
	if !contains(sts.Spec.Template.Spec.Containers[0].Args, `-disco-config={"name":"rqlite-headless"}`) {
		t.Errorf("expected the stale discovery name in args: %v", sts.Spec.Template.Spec.Containers[0].Args)
	}

	v := execIn(t, repoRoot, toolEnv(t), []byte(r.stdout), fnBin, "verify")
	if v.code != 1 {
		t.Fatalf("verify must fail: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	out := stripJobHash(v.stdout)
	for _, w := range []string{
		`StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -raft-adv-addr -> Service rqlite/rqlite-headless: no such Service; the pods' DNS names live under spec.serviceName "team-rqlite-headless", so "$(POD_NAME).rqlite-headless:4002" does not resolve`,
		`StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -http-adv-addr -> Service rqlite/rqlite-headless: no such Service`,
		`StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -disco-config -> Service rqlite/rqlite-headless: no such Service: discovery would find no nodes (the voters' headless Service is "team-rqlite-headless")`,
		`ConfigMap rqlite/team-rqlite-config data.peers.json[0].id -> StatefulSet rqlite/team-rqlite: "rqlite-0" is not a pod of the StatefulSet (pods team-rqlite-0 … team-rqlite-2)`,
		`ConfigMap rqlite/team-rqlite-config data.peers.json -> Pod rqlite/team-rqlite-2: voter pod is missing from peers.json`,
		`Role rqlite/team-rqlite-shrink rules[0].resourceNames -> StatefulSet rqlite/rqlite: no such StatefulSet`,
		`Job rqlite/team-rqlite-shrink-to-3-HASH spec.template.spec.containers[shrink].args --statefulset -> StatefulSet rqlite/rqlite: no such StatefulSet in this cluster`,
		`Job rqlite/team-rqlite-shrink-to-3-HASH spec.template.spec.containers[shrink].args --rqlite-url -> Service rqlite/rqlite: no such Service`,
		`StatefulSet rqlite/team-rqlite metadata.annotations[config.kubernetes.io/depends-on] -> Job rqlite/rqlite-shrink-to-3-HASH: no such object in the stream`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("verify output lacks\n  %s\ngot:\n%s", w, out)
		}
	}
	// What kustomize did fix must not be reported: every line is a real break.
	for _, fixed := range []string{"spec.serviceName ->", "serviceAccountName ->", "configMapKeyRef ->", "volumes[config].configMap ->", "roleRef ->", "subjects[0] ->"} {
		if strings.Contains(out, fixed) {
			t.Errorf("verify reports %q, which kustomize rewrote:\n%s", fixed, out)
		}
	}
	if !strings.HasSuffix(out, "broken reference(s) in 1 cluster(s)\n") {
		t.Errorf("no summary line:\n%s", out)
	}
}

// TestOuterNamespace checks the other outer transformer: a namespace on the layer above moves
// every object, and nothing rqlited reads goes stale, because the function never writes the
// namespace into an address (pods read it from the downward API and peers.json is
// namespace-relative); kustomize rewrites the RoleBinding subject itself. The one stale value is
// the kpt ordering annotation on the voter StatefulSet, which names the shrink Job with its old
// namespace: harmless for kubectl and Argo CD, fatal for `kpt live apply`.
func TestOuterNamespace(t *testing.T) {
	r := kustomizeBuild(t, "e2e/kustomize/testdata/outer-namespace", execFlags...)
	objs := decode(t, r.stdout)
	for _, o := range objs {
		if o.namespace() != "team-a" {
			t.Errorf("%s %s in namespace %q", o.kind(), o.name(), o.namespace())
		}
	}
	if strings.Contains(r.stdout, ".rqlite.svc") || strings.Contains(r.stdout, "rqlite-headless.rqlite") {
		t.Error("an address names the spec's namespace literally")
	}
	var rb rbacv1.RoleBinding
	find(t, objs, "RoleBinding", "rqlite-shrink").into(t, &rb)
	if rb.Subjects[0].Namespace != "team-a" {
		t.Errorf("RoleBinding subject namespace %q, want kustomize to rewrite it", rb.Subjects[0].Namespace)
	}

	rep := verify.Check(docs(objs))
	if len(rep.Problems) != 1 || !strings.HasPrefix(stripJobHash(rep.Problems[0].String()),
		`StatefulSet team-a/rqlite metadata.annotations[config.kubernetes.io/depends-on] -> Job rqlite/rqlite-shrink-to-3-HASH: no such object in the stream (the object is in namespace "team-a")`) {
		t.Errorf("want exactly the stale depends-on annotation, got %v", rep.Problems)
	}
}

// TestVerifyAsKustomizeTransformer runs `rqlite-fn verify` inside the build, as a transformers:
// entry: the namespaced overlay passes through it unchanged (TestOverlays and its golden file), and
// the outer-namePrefix mistake stops the build with the same lines as the standalone command.
func TestVerifyAsKustomizeTransformer(t *testing.T) {
	r := execIn(t, repoRoot, toolEnv(t), nil, kustomizeTool(t), append([]string{"build"}, append(execFlags, "e2e/kustomize/testdata/outer-name-prefix-gated")...)...)
	if r.code == 0 {
		t.Fatalf("the gate let a broken cluster through:\n%s", r.stdout)
	}
	if r.stdout != "" {
		t.Errorf("a failed build printed manifests")
	}
	for _, w := range []string{
		`rqlite-fn verify: StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -raft-adv-addr -> Service rqlite/rqlite-headless: no such Service`,
		`rqlite-fn verify: ConfigMap rqlite/team-rqlite-config data.peers.json[0].id -> StatefulSet rqlite/team-rqlite`,
		`Error: couldn't execute function: exit status 1`,
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %s:\n%s", w, r.stderr)
		}
	}
	// Inside the build kustomize has not rewritten reference fields yet; verify follows the
	// pending renames, so it reports only what stays broken.
	if strings.Contains(r.stderr, "spec.serviceName ->") || strings.Contains(r.stderr, "configMapKeyRef ->") {
		t.Errorf("reported references kustomize rewrites at the end of the build:\n%s", r.stderr)
	}
}

// TestKustomizeValidatorsRejectKRMFunctions records why the gate is a transformer: kustomize
// v5.8.2 fails every KRM-function validator, even `cat`, with "validator shouldn't modify the
// resource map". If a kustomize upgrade makes this test fail, validators: has become usable.
func TestKustomizeValidatorsRejectKRMFunctions(t *testing.T) {
	for _, dir := range []string{"validators-entry", "validators-cat"} {
		t.Run(dir, func(t *testing.T) {
			r := execIn(t, repoRoot, toolEnv(t), nil, kustomizeTool(t), append([]string{"build"}, append(execFlags, "e2e/kustomize/testdata/"+dir)...)...)
			if r.code == 0 || !strings.Contains(r.stderr, "validator shouldn't modify the resource map") {
				t.Errorf("exit %d, stderr %.300s", r.code, r.stderr)
			}
		})
	}
}

func kustomizeTool(t *testing.T) string { return testenv.Tool(t, "kustomize") }

// stripJobHash replaces the template hash in shrink Job names, so expectations do not change with
// every change to the Job's template.
func stripJobHash(s string) string { return jobHash.ReplaceAllString(s, "$1-HASH") }

var jobHash = regexp.MustCompile(`(shrink-to-\d+)-[0-9a-f]{8}`)
