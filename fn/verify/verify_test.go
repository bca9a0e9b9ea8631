package verify_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/verify"
)

// spec has every kind of object the function renders: two pools, an HPA, a NetworkPolicy with a
// client rule, and a user volume that names a ConfigMap kept outside the stream.
const spec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: orders
  namespace: shop
spec:
  voters:
    replicas: 3
    extraVolumes:
    - name: scripts
      configMap:
        name: kept-elsewhere
    extraVolumeMounts:
    - name: scripts
      mountPath: /scripts
  readOnly:
    autoscaling:
      minReplicas: 1
      maxReplicas: 4
  networkPolicy:
    clientFrom:
    - podSelector:
        matchLabels:
          app: shop-frontend
`

func rendered(t *testing.T, doc string) []map[string]any {
	t.Helper()
	res := generate.FromYAML([]byte(doc))
	if res.Problems.HasErrors() {
		t.Fatalf("spec does not render: %v", res.Problems)
	}
	b, err := render.EncodeAll(res.Objects)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := verify.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func find(t *testing.T, docs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		md, _ := d["metadata"].(map[string]any)
		if d["kind"] == kind && md["name"] == name {
			return d
		}
	}
	t.Fatalf("no %s %s in the stream", kind, name)
	return nil
}

// at walks a path of map keys and list indexes and returns the parent container and last key, so
// a test can replace or delete any field.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("path %v: %T is not a map at %q", path, v, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("path %v: no index %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func set(t *testing.T, root map[string]any, value any, path ...any) {
	t.Helper()
	parent := at(t, root, path[:len(path)-1]...)
	switch k := path[len(path)-1].(type) {
	case string:
		parent.(map[string]any)[k] = value
	case int:
		parent.([]any)[k] = value
	}
}

func jobNamed(t *testing.T, docs []map[string]any, prefix string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == "Job" && strings.HasPrefix(d["metadata"].(map[string]any)["name"].(string), prefix) {
			return d
		}
	}
	t.Fatalf("no Job %s*", prefix)
	return nil
}

func container(t *testing.T, sts map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range at(t, sts, "spec", "template", "spec", "containers").([]any) {
		if c.(map[string]any)["name"] == name {
			return c.(map[string]any)
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func replaceArg(t *testing.T, sts map[string]any, prefix, value string) {
	t.Helper()
	args := container(t, sts, "rqlite")["args"].([]any)
	for i, a := range args {
		if strings.HasPrefix(a.(string), prefix) {
			args[i] = prefix + value
			return
		}
	}
	t.Fatalf("no arg %s", prefix)
}

// jobHash is the template hash in the shrink Job's name; expectations say HASH so they do not
// change with every change to the Job's template.
var jobHash = regexp.MustCompile(`(shrink-to-\d+)-[0-9a-f]{8}`)

func problems(rep verify.Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString(jobHash.ReplaceAllString(p.String(), "$1-HASH") + "\n")
	}
	return b.String()
}

func TestConsistentClusterPasses(t *testing.T) {
	rep := verify.Check(rendered(t, spec))
	if !rep.OK() {
		t.Fatalf("a freshly rendered cluster must pass, got:\n%s", problems(rep))
	}
	if got, want := strings.Join(rep.Clusters, ","), "shop/orders"; got != want {
		t.Errorf("clusters = %q, want %q", got, want)
	}
}

// Every case breaks one reference the way a rename, patch or hand edit would, and expects exactly
// the lines naming both ends of what broke.
func TestBrokenReferences(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, docs []map[string]any) []map[string]any
		want   []string
	}{
		{
			name: "serviceName names a missing Service",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "StatefulSet", "orders"), "gone-headless", "spec", "serviceName")
				return docs
			},
			want: []string{
				`StatefulSet shop/orders spec.serviceName -> Service shop/gone-headless: no such Service`,
				// the addresses still name the real headless Service, which is no longer the
				// pods' DNS domain
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -raft-adv-addr -> Service shop/orders-headless: the pods' DNS names live under spec.serviceName "gone-headless"`,
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -http-adv-addr -> Service shop/orders-headless: the pods' DNS names live under spec.serviceName "gone-headless"`,
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -disco-config -> Service shop/orders-headless: is not the headless Service of the voters ("gone-headless")`,
				`StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].args -disco-config -> Service shop/orders-headless: is not the headless Service of the voters ("gone-headless")`,
				`Job shop/orders-shrink-to-3-HASH spec.template.spec.containers[shrink].args --headless -> Service shop/orders-headless: is not the voters' headless Service "gone-headless"`,
				// peers.json agrees with what the pods advertise: the advertised address is the
				// one broken reference, reported above
			},
		},
		{
			name: "headless Service got a cluster IP",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				delete(at(t, find(t, docs, "Service", "orders-headless"), "spec").(map[string]any), "clusterIP")
				return docs
			},
			want: []string{
				`StatefulSet shop/orders spec.serviceName -> Service shop/orders-headless: Service is not headless`,
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -disco-config -> Service shop/orders-headless: Service is not headless`,
				`StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].args -disco-config -> Service shop/orders-headless: Service is not headless`,
			},
		},
		{
			name: "Service selector no longer matches the pods",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "Service", "orders-readonly"), "other", "spec", "selector", "app.kubernetes.io/instance")
				return docs
			},
			want: []string{
				`Service shop/orders-readonly spec.selector -> StatefulSet shop/orders-readonly: selector {app.kubernetes.io/component=readonly,app.kubernetes.io/instance=other,app.kubernetes.io/name=rqlite} selects no StatefulSet's pods`,
			},
		},
		{
			name: "Service targets a port the pods do not name",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "Service", "orders"), "web", "spec", "ports", 0, "targetPort")
				return docs
			},
			want: []string{`Service shop/orders spec.ports[http].targetPort -> StatefulSet shop/orders: the pods have no container port named "web"`},
		},
		{
			name: "PDB selector no longer matches the pods",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "PodDisruptionBudget", "orders"), "voters", "spec", "selector", "matchLabels", "app.kubernetes.io/component")
				return docs
			},
			want: []string{`PodDisruptionBudget shop/orders spec.selector -> StatefulSet shop/orders: selector {app.kubernetes.io/component=voters,app.kubernetes.io/instance=orders,app.kubernetes.io/name=rqlite} selects no StatefulSet's pods`},
		},
		{
			name: "NetworkPolicy selects another instance",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				np := find(t, docs, "NetworkPolicy", "orders")
				set(t, np, "orderz", "spec", "podSelector", "matchLabels", "app.kubernetes.io/instance")
				// the Raft rule; the client rule's own-pods peer is left alone
				set(t, np, "orderz", "spec", "ingress", 1, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/instance")
				return docs
			},
			want: []string{
				`NetworkPolicy shop/orders spec.podSelector -> StatefulSet shop/orders: selector app.kubernetes.io/component in (readonly,voter),app.kubernetes.io/instance=orderz,app.kubernetes.io/name=rqlite does not cover this StatefulSet's pods`,
				`NetworkPolicy shop/orders spec.podSelector -> StatefulSet shop/orders-readonly: selector app.kubernetes.io/component in (readonly,voter),app.kubernetes.io/instance=orderz,app.kubernetes.io/name=rqlite does not cover this StatefulSet's pods`,
				`NetworkPolicy shop/orders spec.ingress[1].from[0].podSelector -> StatefulSet shop/*: selector {app.kubernetes.io/instance=orderz,app.kubernetes.io/name=rqlite} selects no StatefulSet's pods`,
			},
		},
		{
			name: "HPA targets a renamed StatefulSet",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "HorizontalPodAutoscaler", "orders-readonly"), "orders-ro", "spec", "scaleTargetRef", "name")
				return docs
			},
			want: []string{`HorizontalPodAutoscaler shop/orders-readonly spec.scaleTargetRef -> StatefulSet shop/orders-ro: no such StatefulSet: nothing would be scaled`},
		},
		{
			name: "HPA target also sets replicas",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "StatefulSet", "orders-readonly"), float64(2), "spec", "replicas")
				return docs
			},
			want: []string{
				`HorizontalPodAutoscaler shop/orders-readonly spec.scaleTargetRef -> StatefulSet shop/orders-readonly: the StatefulSet also sets spec.replicas`,
				`ConfigMap shop/orders-config data.readonly-replicas -> StatefulSet shop/orders-readonly: is autoscaled but the StatefulSet says 2`,
			},
		},
		{
			name: "configMapKeyRef and config volume name a missing ConfigMap",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "ConfigMap", "orders-config"), "orders-cfg", "metadata", "name")
				return docs
			},
			want: []string{
				`StatefulSet shop/orders spec.template.spec.containers[install-peers].env[RQLITE_STATIC_PEERS].valueFrom.configMapKeyRef -> ConfigMap shop/orders-config: no such ConfigMap`,
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].env[RQLITE_BOOTSTRAP_EXPECT].valueFrom.configMapKeyRef -> ConfigMap shop/orders-config: no such ConfigMap`,
				`StatefulSet shop/orders spec.template.spec.volumes[config].configMap -> ConfigMap shop/orders-config: no such ConfigMap`,
				`Role shop/orders-shrink rules[3].resourceNames -> ConfigMap shop/orders-config: no such ConfigMap`,
			},
		},
		{
			name: "ConfigMap lost a key",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				delete(at(t, find(t, docs, "ConfigMap", "orders-config"), "data").(map[string]any), "static-peers")
				return docs
			},
			want: []string{`StatefulSet shop/orders spec.template.spec.containers[install-peers].env[RQLITE_STATIC_PEERS].valueFrom.configMapKeyRef -> ConfigMap shop/orders-config: ConfigMap has no key "static-peers"`},
		},
		{
			name: "ServiceAccount renamed",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "ServiceAccount", "orders"), "orders-sa", "metadata", "name")
				return docs
			},
			want: []string{
				`StatefulSet shop/orders spec.template.spec.serviceAccountName -> ServiceAccount shop/orders: no such ServiceAccount`,
				`StatefulSet shop/orders-readonly spec.template.spec.serviceAccountName -> ServiceAccount shop/orders: no such ServiceAccount`,
			},
		},
		{
			name: "read-only pool discovers through its own headless Service",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				replaceArg(t, find(t, docs, "StatefulSet", "orders-readonly"), "-disco-config=", `{"name":"orders-readonly-headless"}`)
				return docs
			},
			want: []string{`StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].args -disco-config -> Service shop/orders-readonly-headless: is not the headless Service of the voters ("orders-headless")`},
		},
		{
			name: "disco-config is not JSON",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				replaceArg(t, find(t, docs, "StatefulSet", "orders"), "-disco-config=", `/etc/disco.json`)
				return docs
			},
			want: []string{`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -disco-config -> Service shop/: "/etc/disco.json" is not a JSON object with a name`},
		},
		{
			name: "advertised addresses name the wrong headless Service or namespace",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				sts := find(t, docs, "StatefulSet", "orders")
				replaceArg(t, sts, "-raft-adv-addr=", "$(POD_NAME).orders-readonly-headless:4002")
				replaceArg(t, sts, "-http-adv-addr=", "$(POD_NAME).orders-headless.default.svc.cluster.local:4001")
				return docs
			},
			want: []string{
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -raft-adv-addr -> Service shop/orders-readonly-headless: the pods' DNS names live under spec.serviceName "orders-headless", so "$(POD_NAME).orders-readonly-headless:4002" does not resolve`,
				`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -http-adv-addr -> Service shop/orders-headless: names namespace "default" but the StatefulSet is in "shop"`,
			},
		},
		{
			name: "every pod advertises one fixed address",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				replaceArg(t, find(t, docs, "StatefulSet", "orders"), "-raft-adv-addr=", "orders-0.orders-headless:4002")
				return docs
			},
			want: []string{`StatefulSet shop/orders spec.template.spec.containers[rqlite].args -raft-adv-addr -> StatefulSet shop/orders: "orders-0.orders-headless:4002" does not start with $(POD_NAME)`},
		},
		{
			name: "voters scaled without the ConfigMap",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "StatefulSet", "orders"), float64(5), "spec", "replicas")
				return docs
			},
			want: []string{
				`ConfigMap shop/orders-config data.bootstrap-expect -> StatefulSet shop/orders: is 3 but the StatefulSet runs 5 voters`,
				`ConfigMap shop/orders-config data.voters -> StatefulSet shop/orders: is 3 but the StatefulSet says 5`,
				`ConfigMap shop/orders-config data.peers.json -> Pod shop/orders-3: voter pod is missing from peers.json`,
				`ConfigMap shop/orders-config data.peers.json -> Pod shop/orders-4: voter pod is missing from peers.json`,
				// the voter PDB (maxUnavailable 1) still keeps a majority of 5
			},
		},
		{
			name: "peers.json entries for pods that do not exist",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				peers := `[{"id":"rqlite-0","address":"rqlite-0.rqlite-headless:4002","non_voter":false},` +
					`{"id":"orders-1","address":"orders-1.orders-headless:4002","non_voter":true},` +
					`{"id":"orders-2","address":"orders-2:4002","non_voter":false}]`
				set(t, find(t, docs, "ConfigMap", "orders-config"), peers, "data", "peers.json")
				return docs
			},
			want: []string{
				`ConfigMap shop/orders-config data.peers.json[0].id -> StatefulSet shop/orders: "rqlite-0" is not a pod of the StatefulSet (pods orders-0 … orders-2)`,
				`ConfigMap shop/orders-config data.peers.json[0].address -> Service shop/orders-headless: "rqlite-0.rqlite-headless:4002" is not under the StatefulSet's headless Service "orders-headless"`,
				`ConfigMap shop/orders-config data.peers.json[1].non_voter -> StatefulSet shop/orders: voter "orders-1" is listed as a non-voter`,
				`ConfigMap shop/orders-config data.peers.json[2].address -> StatefulSet shop/orders: "orders-2:4002" is not the Raft address the pod advertises, "orders-2.orders-headless:4002"`,
				`ConfigMap shop/orders-config data.peers.json -> Pod shop/orders-0: voter pod is missing from peers.json`,
			},
		},
		{
			name: "peers.json is not JSON",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				set(t, find(t, docs, "ConfigMap", "orders-config"), "orders-0 orders-1", "data", "peers.json")
				return docs
			},
			want: []string{`ConfigMap shop/orders-config data.peers.json -> StatefulSet shop/orders: is not a peers.json list`},
		},
		{
			name: "shrink Job and its RBAC name the old cluster",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				job := jobNamed(t, docs, "orders-shrink-to-3-")
				args := container(t, map[string]any{"spec": map[string]any{"template": at(t, job, "spec", "template")}}, "shrink")["args"].([]any)
				for i, a := range args {
					args[i] = strings.ReplaceAll(a.(string), "orders", "rqlite")
				}
				role := find(t, docs, "Role", "orders-shrink")
				set(t, role, []any{"rqlite"}, "rules", 0, "resourceNames")
				rb := find(t, docs, "RoleBinding", "orders-shrink")
				set(t, rb, "rqlite-shrink", "roleRef", "name")
				set(t, rb, "default", "subjects", 0, "namespace")
				set(t, find(t, docs, "StatefulSet", "orders"), "batch/namespaces/shop/Job/rqlite-shrink-to-3", "metadata", "annotations", "config.kubernetes.io/depends-on")
				return docs
			},
			want: []string{
				`Job shop/orders-shrink-to-3-HASH spec.template.spec.containers[shrink].args --statefulset -> StatefulSet shop/rqlite: no such StatefulSet in this cluster`,
				`Job shop/orders-shrink-to-3-HASH spec.template.spec.containers[shrink].args --headless -> Service shop/rqlite-headless: no such Service`,
				`Job shop/orders-shrink-to-3-HASH spec.template.spec.containers[shrink].args --rqlite-url -> Service shop/rqlite: no such Service`,
				`Role shop/orders-shrink rules[0].resourceNames -> StatefulSet shop/rqlite: no such StatefulSet`,
				`RoleBinding shop/orders-shrink roleRef -> Role shop/rqlite-shrink: no such Role`,
				`RoleBinding shop/orders-shrink subjects[0] -> ServiceAccount default/orders-shrink: no such ServiceAccount in the stream`,
				`StatefulSet shop/orders metadata.annotations[config.kubernetes.io/depends-on] -> Job shop/rqlite-shrink-to-3: no such object in the stream: kpt would wait`,
			},
		},
		{
			name: "depends-on left in the old namespace",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				for _, d := range docs {
					d["metadata"].(map[string]any)["namespace"] = "moved"
				}
				for _, s := range at(t, find(t, docs, "RoleBinding", "orders-shrink"), "subjects").([]any) {
					s.(map[string]any)["namespace"] = "moved"
				}
				return docs
			},
			want: []string{`StatefulSet moved/orders metadata.annotations[config.kubernetes.io/depends-on] -> Job shop/orders-shrink-to-3-HASH: no such object in the stream (the object is in namespace "moved")`},
		},
		{
			name: "objects without a namespace bind a fixed one",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				for _, d := range docs {
					delete(d["metadata"].(map[string]any), "namespace")
					delete(d["metadata"].(map[string]any)["annotations"].(map[string]any), "config.kubernetes.io/depends-on")
				}
				return docs
			},
			want: []string{`RoleBinding orders-shrink subjects[0].namespace -> ServiceAccount shop/orders-shrink: names namespace "shop" but the objects carry none`},
		},
		{
			name: "an object twice",
			break_: func(t *testing.T, docs []map[string]any) []map[string]any {
				b, _ := json.Marshal(find(t, docs, "Service", "orders"))
				var dup map[string]any
				_ = json.Unmarshal(b, &dup)
				return append(docs, dup)
			},
			want: []string{`Service shop/orders metadata.name -> Service shop/orders: defined twice in the stream (objects `},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := verify.Check(tc.break_(t, rendered(t, spec)))
			wantFindings(t, rep, tc.want)
			if len(rep.Problems) != len(tc.want) {
				t.Errorf("%d problems, want %d (one per broken reference):\n%s", len(rep.Problems), len(tc.want), problems(rep))
			}
		})
	}
}

// wantFindings fails unless the report has a finding containing each of want, and every finding
// contains one of want.
func wantFindings(t *testing.T, rep verify.Report, want []string) {
	t.Helper()
	got := problems(rep)
	if rep.OK() {
		t.Fatal("the broken stream passed")
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing a finding containing\n  %s\ngot:\n%s", w, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		expected := false
		for _, w := range want {
			expected = expected || strings.Contains(line, w)
		}
		if !expected {
			t.Errorf("unexpected finding:\n  %s", line)
		}
	}
}

func TestNoClusterIsNotOK(t *testing.T) {
	docs, err := verify.Decode([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := verify.Check(docs)
	if rep.OK() || len(rep.Clusters) != 0 || rep.Objects != 1 {
		t.Fatalf("a stream without rqlite objects must not pass: %+v", rep)
	}
	if !strings.Contains(verify.ErrNoCluster.Error(), "--enable-exec") {
		t.Errorf("the message must point at the usual cause: %v", verify.ErrNoCluster)
	}
}

// kubectl get -o yaml wraps objects in a List; the checks must see through it.
func TestDecodeFlattensLists(t *testing.T) {
	docs := rendered(t, spec)
	items := make([]any, len(docs))
	for i, d := range docs {
		items[i] = d
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Stream(append([]byte("---\n# comment only\n---\n"), b...))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Objects != len(docs) {
		t.Fatalf("List not flattened: %d objects, problems:\n%s", rep.Objects, problems(rep))
	}
}

// Inside a kustomize build, objects are renamed first and references rewritten only at the very
// end; the previous-name annotations let a check running mid-build (a `transformers:` entry)
// follow the rewrite that is still to come, and still catch the names kustomize never rewrites.
func TestFollowsPendingKustomizeRenames(t *testing.T) {
	docs := rendered(t, `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
spec: {}
`)
	for _, d := range docs {
		md := d["metadata"].(map[string]any)
		old := md["name"].(string)
		md["name"] = "team-" + old
		md["namespace"] = "db"
		md["annotations"].(map[string]any)["internal.config.kubernetes.io/previousNames"] = old
		md["annotations"].(map[string]any)["internal.config.kubernetes.io/previousNamespaces"] = "default"
		md["annotations"].(map[string]any)["internal.config.kubernetes.io/previousKinds"] = d["kind"]
	}
	rep := verify.Check(docs)
	got := problems(rep)
	for _, unwanted := range []string{"spec.serviceName ->", "serviceAccountName ->", "configMapKeyRef ->", "volumes[config].configMap ->"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("reported a reference kustomize rewrites at the end of the build (%s):\n%s", unwanted, got)
		}
	}
	for _, w := range []string{
		`StatefulSet db/team-rqlite spec.template.spec.containers[rqlite].args -raft-adv-addr -> Service db/rqlite-headless: no such Service; the pods' DNS names live under spec.serviceName "team-rqlite-headless"`,
		`StatefulSet db/team-rqlite spec.template.spec.containers[rqlite].args -disco-config -> Service db/rqlite-headless: no such Service`,
		`ConfigMap db/team-rqlite-config data.peers.json[0].id -> StatefulSet db/team-rqlite: "rqlite-0" is not a pod of the StatefulSet`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %s\ngot:\n%s", w, got)
		}
	}
}

func TestProblemString(t *testing.T) {
	p := verify.Problem{
		From:    verify.Ref{Kind: "StatefulSet", Namespace: "db", Name: "a"},
		Field:   "spec.serviceName",
		To:      verify.Ref{Kind: "Service", Name: "b"},
		Message: "no such Service",
	}
	if got, want := p.String(), "StatefulSet db/a spec.serviceName -> Service b: no such Service"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func ExampleStream() {
	rep, err := verify.Stream([]byte(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: db-readonly
  labels:
    app.kubernetes.io/managed-by: rqlite-krm
    app.kubernetes.io/instance: db
    app.kubernetes.io/name: rqlite
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db-readonly}
  maxReplicas: 3
`))
	if err != nil {
		panic(err)
	}
	for _, p := range rep.Problems {
		fmt.Println(p)
	}
	// Output:
	// HorizontalPodAutoscaler db-readonly spec.scaleTargetRef -> StatefulSet db-readonly: no such StatefulSet: nothing would be scaled
}
