package verify_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/verify"
)

// fullSpec renders every object kind whose promises verify checks: both pools, node and client
// TLS from cert-manager, auth, S3 backups with keys, metrics with a PodMonitor, the shrink Job.
const fullSpec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata: {name: orders, namespace: shop}
spec:
  voters: {replicas: 3}
  readOnly: {replicas: 2}
  tls:
    node: {certManager: {issuerRef: {name: ca}}}
    client: {certManager: {issuerRef: {name: ca}}}
  auth: {usersSecret: {name: users}, joinAs: cluster, shrinkUser: {username: op, passwordSecret: {name: op}}}
  backup: {s3: {bucket: b, path: p, region: r, accessKeyID: {name: s3}, secretAccessKey: {name: s3}}}
  metrics: {enabled: true, credentials: {username: mon, passwordSecret: {name: mon}}, podMonitor: {}}
`

const (
	voterArgs = "StatefulSet shop/orders spec.template.spec.containers[rqlite].args"
	roArgs    = "StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].args"
	voterCtr  = "StatefulSet shop/orders spec.template.spec.containers[rqlite]"
)

// removeArg drops the rqlite container's argument with a prefix.
func removeArg(t *testing.T, sts map[string]any, prefix string) {
	t.Helper()
	ct := container(t, sts, "rqlite")
	var out []any
	for _, a := range ct["args"].([]any) {
		if !strings.HasPrefix(a.(string), prefix) {
			out = append(out, a)
		}
	}
	if len(out) == len(ct["args"].([]any)) {
		t.Fatalf("no arg %s", prefix)
	}
	ct["args"] = out
}

// addArg puts a flag before the data directory, where extraArgs land and where it wins over an
// earlier occurrence.
func addArg(t *testing.T, sts map[string]any, arg string) {
	t.Helper()
	ct := container(t, sts, "rqlite")
	args := ct["args"].([]any)
	ct["args"] = append(append(append([]any{}, args[:len(args)-1]...), arg), args[len(args)-1])
}

func removeEnv(t *testing.T, ct map[string]any, name string) {
	t.Helper()
	var out []any
	for _, e := range ct["env"].([]any) {
		if e.(map[string]any)["name"] != name {
			out = append(out, e)
		}
	}
	ct["env"] = out
}

func meta(t *testing.T, o map[string]any) map[string]any {
	t.Helper()
	return at(t, o, "metadata").(map[string]any)
}

// TestInvariants takes a render that verifies and breaks one promise of the README per case
// (docs/verify.md lists them); verify must name the object and the field, and report nothing
// else.
func TestInvariants(t *testing.T) {
	if rep := verify.Check(rendered(t, fullSpec)); !rep.OK() {
		t.Fatalf("the unbroken render must pass:\n%s", problems(rep))
	}
	type docs = []map[string]any
	cases := []struct {
		name   string
		break_ func(t *testing.T, d docs)
		want   []string // each must be found, and every finding must contain one of them
	}{
		// What you get: the read-only pool joins as non-voters and leaves on shutdown.
		{"read-only pool with -raft-non-voter=false", func(t *testing.T, d docs) {
			replaceArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-raft-non-voter=", "false")
		}, []string{roArgs + " -raft-non-voter -> StatefulSet shop/orders-readonly: the read-only pool runs without -raft-non-voter=true (it is false)"}},
		{"read-only pool without -raft-non-voter", func(t *testing.T, d docs) {
			removeArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-raft-non-voter")
		}, []string{roArgs + " -raft-non-voter -> StatefulSet shop/orders-readonly: the read-only pool runs without -raft-non-voter=true (it is unset)"}},
		{"read-only pool overridden by a later -raft-non-voter=false", func(t *testing.T, d docs) {
			addArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-raft-non-voter=false")
		}, []string{roArgs + " -raft-non-voter -> "}},
		{"read-only pool without -raft-cluster-remove-shutdown", func(t *testing.T, d docs) {
			removeArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-raft-cluster-remove-shutdown")
		}, []string{roArgs + " -raft-cluster-remove-shutdown -> "}},
		{"voters as non-voters", func(t *testing.T, d docs) {
			addArg(t, find(t, d, "StatefulSet", "orders"), "-raft-non-voter")
		}, []string{voterArgs + " -raft-non-voter -> StatefulSet shop/orders: the voters run with -raft-non-voter=true"}},
		// What you get: the voters start in parallel.
		{"voters OrderedReady", func(t *testing.T, d docs) {
			set(t, find(t, d, "StatefulSet", "orders"), "OrderedReady", "spec", "podManagementPolicy")
		}, []string{"StatefulSet shop/orders spec.podManagementPolicy -> "}},
		// Design: counts reach the pods from the ConfigMap, never from the pod template.
		{"bootstrap-expect written into the pod template", func(t *testing.T, d docs) {
			replaceArg(t, find(t, d, "StatefulSet", "orders"), "-bootstrap-expect=", "3")
		}, []string{voterArgs + " -bootstrap-expect -> StatefulSet shop/orders: is \"3\", not $(RQLITE_BOOTSTRAP_EXPECT)"}},
		// What you get: the voter PDB never lets a drain take the cluster below quorum.
		{"voter PDB maxUnavailable equal to quorum", func(t *testing.T, d docs) {
			set(t, find(t, d, "PodDisruptionBudget", "orders"), float64(2), "spec", "maxUnavailable")
		}, []string{"PodDisruptionBudget shop/orders spec.maxUnavailable -> StatefulSet shop/orders: lets 2 of 3 voters be evicted at once, but Raft needs 2 up (a majority): write maxUnavailable: 1"}},
		{"voter PDB maxUnavailable as a percentage", func(t *testing.T, d docs) {
			set(t, find(t, d, "PodDisruptionBudget", "orders"), "50%", "spec", "maxUnavailable")
		}, []string{"PodDisruptionBudget shop/orders spec.maxUnavailable -> StatefulSet shop/orders: lets 2 of 3 voters"}},
		{"voter PDB minAvailable below quorum", func(t *testing.T, d docs) {
			spec := at(t, find(t, d, "PodDisruptionBudget", "orders"), "spec").(map[string]any)
			delete(spec, "maxUnavailable")
			spec["minAvailable"] = float64(1)
		}, []string{"PodDisruptionBudget shop/orders spec.minAvailable -> StatefulSet shop/orders: lets 2 of 3 voters"}},
		{"read-only PDB blocks drains", func(t *testing.T, d docs) {
			set(t, find(t, d, "PodDisruptionBudget", "orders-readonly"), float64(0), "spec", "maxUnavailable")
		}, []string{"PodDisruptionBudget shop/orders-readonly spec.maxUnavailable -> StatefulSet shop/orders-readonly: the read-only pool's budget is maxUnavailable: 1"}},
		{"a pool without a PDB", func(t *testing.T, d docs) {
			set(t, find(t, d, "PodDisruptionBudget", "orders-readonly"), "Secret", "kind")
		}, []string{"StatefulSet shop/orders-readonly spec.template.metadata.labels -> PodDisruptionBudget shop/*: no PodDisruptionBudget selects the pods"}},
		// What you get: headless Services publish pods before they are ready; client Services do not.
		{"headless Service hides unready pods", func(t *testing.T, d docs) {
			delete(at(t, find(t, d, "Service", "orders-headless"), "spec").(map[string]any), "publishNotReadyAddresses")
		}, []string{"Service shop/orders-headless spec.publishNotReadyAddresses -> StatefulSet shop/orders: is not true"}},
		{"client Service publishes unready pods", func(t *testing.T, d docs) {
			set(t, find(t, d, "Service", "orders-readonly"), true, "spec", "publishNotReadyAddresses")
		}, []string{"Service shop/orders-readonly spec.publishNotReadyAddresses -> StatefulSet shop/orders-readonly: is true on a client Service"}},
		// Pods: identity from the downward API, DNS discovery.
		{"node id not the pod name", func(t *testing.T, d docs) {
			replaceArg(t, find(t, d, "StatefulSet", "orders"), "-node-id=", "orders")
		}, []string{voterArgs + " -node-id -> "}},
		{"POD_NAMESPACE not from the downward API", func(t *testing.T, d docs) {
			removeEnv(t, container(t, find(t, d, "StatefulSet", "orders-readonly"), "rqlite"), "POD_NAMESPACE")
		}, []string{"StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].env[POD_NAMESPACE] -> "}},
		{"discovery by SRV records", func(t *testing.T, d docs) {
			replaceArg(t, find(t, d, "StatefulSet", "orders"), "-disco-mode=", "dns-srv")
		}, []string{voterArgs + " -disco-mode -> "}},
		// Pods: data on the PVC.
		{"data directory on the container's filesystem", func(t *testing.T, d docs) {
			args := container(t, find(t, d, "StatefulSet", "orders"), "rqlite")["args"].([]any)
			args[len(args)-1] = "/var/lib/rqlite"
		}, []string{voterArgs + " -> StatefulSet shop/orders: the data directory /var/lib/rqlite is on no volume"}},
		{"data directory shadowed by an emptyDir", func(t *testing.T, d docs) {
			sts := find(t, d, "StatefulSet", "orders")
			ct := container(t, sts, "rqlite")
			ct["volumeMounts"] = append(ct["volumeMounts"].([]any), map[string]any{"name": "scratch", "mountPath": "/rqlite/file/data"})
			vols := at(t, sts, "spec", "template", "spec").(map[string]any)
			vols["volumes"] = append(vols["volumes"].([]any), map[string]any{"name": "scratch", "emptyDir": map[string]any{}})
		}, []string{voterCtr + ".volumeMounts[scratch] -> StatefulSet shop/orders: the data directory /rqlite/file/data is on volume \"scratch\""}},
		// Pods: probes.
		{"readiness without sync", func(t *testing.T, d docs) {
			set(t, container(t, find(t, d, "StatefulSet", "orders-readonly"), "rqlite"), "/readyz", "readinessProbe", "httpGet", "path")
		}, []string{"StatefulSet shop/orders-readonly spec.template.spec.containers[rqlite].readinessProbe.httpGet.path -> "}},
		{"liveness needs a leader", func(t *testing.T, d docs) {
			set(t, container(t, find(t, d, "StatefulSet", "orders"), "rqlite"), "/readyz", "livenessProbe", "httpGet", "path")
		}, []string{voterCtr + ".livenessProbe.httpGet.path -> "}},
		// Pods: the grace period covers a read-only node removing itself.
		{"read-only grace period too short", func(t *testing.T, d docs) {
			set(t, find(t, d, "StatefulSet", "orders-readonly"), float64(10), "spec", "template", "spec", "terminationGracePeriodSeconds")
		}, []string{"StatefulSet shop/orders-readonly spec.template.spec.terminationGracePeriodSeconds -> StatefulSet shop/orders-readonly: is 10 s"}},
		// Security: backups on voters only, -join-as with auth, TLS server name and certificates.
		{"read-only pool uploads backups", func(t *testing.T, d docs) {
			addArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-auto-backup=/rqlite/config/backup.json")
		}, []string{roArgs + " -auto-backup -> "}},
		{"auth without -join-as", func(t *testing.T, d docs) {
			removeArg(t, find(t, d, "StatefulSet", "orders"), "-join-as=")
		}, []string{voterArgs + " -join-as -> "}},
		{"node TLS server name not the voters' headless Service", func(t *testing.T, d docs) {
			replaceArg(t, find(t, d, "StatefulSet", "orders-readonly"), "-node-verify-server-name=", "orders")
		}, []string{roArgs + " -node-verify-server-name -> Service shop/orders: is not the voters' headless Service \"orders-headless\""}},
		{"node certificate misses the Raft names", func(t *testing.T, d docs) {
			set(t, find(t, d, "Certificate", "orders-node"), []any{"orders-headless"}, "spec", "dnsNames")
		}, []string{
			`Certificate shop/orders-node spec.dnsNames -> StatefulSet shop/orders: does not cover "*.orders-headless"`,
			`Certificate shop/orders-node spec.dnsNames -> StatefulSet shop/orders-readonly: does not cover "*.orders-readonly-headless"`,
		}},
		{"client certificate misses a client Service", func(t *testing.T, d docs) {
			set(t, find(t, d, "Certificate", "orders-client"), []any{"orders"}, "spec", "dnsNames")
		}, []string{`Certificate shop/orders-client spec.dnsNames -> StatefulSet shop/orders-readonly: does not cover "orders-readonly"`}},
		// Design: recovery installs peers.json through the voters' init container.
		{"voters without the peers.json init container", func(t *testing.T, d docs) {
			delete(at(t, find(t, d, "StatefulSet", "orders"), "spec", "template", "spec").(map[string]any), "initContainers")
		}, []string{"StatefulSet shop/orders spec.template.spec.initContainers -> "}},
		// Pods: the restricted Pod Security standard, no API token.
		{"privilege escalation allowed", func(t *testing.T, d docs) {
			set(t, container(t, find(t, d, "StatefulSet", "orders"), "rqlite"), true, "securityContext", "allowPrivilegeEscalation")
		}, []string{voterCtr + ".securityContext -> StatefulSet shop/orders: allowPrivilegeEscalation is not false"}},
		{"writable root filesystem for rqlited", func(t *testing.T, d docs) {
			set(t, container(t, find(t, d, "StatefulSet", "orders"), "rqlite"), false, "securityContext", "readOnlyRootFilesystem")
		}, []string{voterCtr + ".securityContext -> StatefulSet shop/orders: readOnlyRootFilesystem is not true"}},
		{"no seccomp profile", func(t *testing.T, d docs) {
			delete(at(t, find(t, d, "StatefulSet", "orders-readonly"), "spec", "template", "spec", "securityContext").(map[string]any), "seccompProfile")
		}, []string{"StatefulSet shop/orders-readonly spec.template.spec.containers["}},
		{"API token mounted", func(t *testing.T, d docs) {
			set(t, find(t, d, "StatefulSet", "orders"), true, "spec", "template", "spec", "automountServiceAccountToken")
		}, []string{"StatefulSet shop/orders spec.template.spec.automountServiceAccountToken -> "}},
		// Security: credentials only from Secrets.
		{"S3 key written into the pod spec", func(t *testing.T, d docs) {
			ct := container(t, find(t, d, "StatefulSet", "orders"), "rqlite")
			for _, e := range ct["env"].([]any) {
				if e := e.(map[string]any); e["name"] == "RQLITE_S3_ACCESS_KEY_ID" {
					delete(e, "valueFrom")
					e["value"] = "AKIA0000"
				}
			}
		}, []string{voterCtr + ".env[RQLITE_S3_ACCESS_KEY_ID].value -> "}},
		{"S3 key written into the ConfigMap", func(t *testing.T, d docs) {
			cm := find(t, d, "ConfigMap", "orders-config")
			data := at(t, cm, "data").(map[string]any)
			data["backup.json"] = strings.Replace(data["backup.json"].(string), `"$RQLITE_S3_ACCESS_KEY_ID"`, `"AKIA0000"`, 1)
		}, []string{"ConfigMap shop/orders-config data.backup.json sub.access_key_id -> "}},
		// NetworkPolicies: default-deny, Raft only from the cluster, DNS, metrics, shrink Job closed.
		{"Raft port open to every namespace", func(t *testing.T, d docs) {
			set(t, find(t, d, "NetworkPolicy", "orders"), []any{map[string]any{"namespaceSelector": map[string]any{}}}, "spec", "ingress", 1, "from")
		}, []string{"NetworkPolicy shop/orders spec.ingress[1].from[0] -> StatefulSet shop/*: admits the Raft port from outside the cluster's pods"}},
		{"Raft port open to everyone", func(t *testing.T, d docs) {
			delete(at(t, find(t, d, "NetworkPolicy", "orders"), "spec", "ingress", 1).(map[string]any), "from")
		}, []string{"NetworkPolicy shop/orders spec.ingress[1] -> StatefulSet shop/*: admits the Raft port 4002 from everyone"}},
		{"policy not default-deny for egress", func(t *testing.T, d docs) {
			set(t, find(t, d, "NetworkPolicy", "orders"), []any{"Ingress"}, "spec", "policyTypes")
		}, []string{"NetworkPolicy shop/orders spec.policyTypes -> "}},
		{"no DNS egress", func(t *testing.T, d docs) {
			eg := at(t, find(t, d, "NetworkPolicy", "orders"), "spec").(map[string]any)
			eg["egress"] = eg["egress"].([]any)[1:]
		}, []string{"NetworkPolicy shop/orders spec.egress -> StatefulSet shop/*: no rule allows DNS"}},
		{"metrics port closed", func(t *testing.T, d docs) {
			spec := at(t, find(t, d, "NetworkPolicy", "orders"), "spec").(map[string]any)
			spec["ingress"] = spec["ingress"].([]any)[:2]
		}, []string{"NetworkPolicy shop/orders spec.ingress -> PodMonitor shop/orders: no rule admits the metrics port \"metrics\""}},
		{"shrink Job accepts connections", func(t *testing.T, d docs) {
			set(t, find(t, d, "NetworkPolicy", "orders-shrink"), []any{map[string]any{}}, "spec", "ingress")
		}, []string{"NetworkPolicy shop/orders-shrink spec.ingress -> "}},
		// Shrink: least privilege, Argo CD hook order, kpt depends-on.
		{"shrink Role with a wildcard", func(t *testing.T, d docs) {
			set(t, find(t, d, "Role", "orders-shrink"), []any{"*"}, "rules", 2, "verbs")
		}, []string{"Role shop/orders-shrink rules[2] -> Role shop/orders-shrink: verbs has *"}},
		{"shrink Job not a PreSync hook", func(t *testing.T, d docs) {
			delete(meta(t, jobNamed(t, d, "orders-shrink-to-3-"))["annotations"].(map[string]any), "argocd.argoproj.io/hook")
		}, []string{"Job shop/orders-shrink-to-3-HASH metadata.annotations[argocd.argoproj.io/hook] -> "}},
		{"shrink RBAC in the Job's wave", func(t *testing.T, d docs) {
			meta(t, find(t, d, "RoleBinding", "orders-shrink"))["annotations"].(map[string]any)["argocd.argoproj.io/sync-wave"] = "-1"
		}, []string{"RoleBinding shop/orders-shrink metadata.annotations[argocd.argoproj.io/sync-wave] -> Job shop/orders-shrink-to-3-HASH: is \"-1\", not before the Job's \"-1\""}},
		{"voters without depends-on", func(t *testing.T, d docs) {
			delete(meta(t, find(t, d, "StatefulSet", "orders"))["annotations"].(map[string]any), "config.kubernetes.io/depends-on")
		}, []string{"StatefulSet shop/orders metadata.annotations[config.kubernetes.io/depends-on] -> Job shop/orders-shrink-to-3-HASH: does not name the shrink Job"}},
		// What you get: the labels every object carries.
		{"object without the name label", func(t *testing.T, d docs) {
			delete(meta(t, find(t, d, "ServiceAccount", "orders"))["labels"].(map[string]any), "app.kubernetes.io/name")
		}, []string{"ServiceAccount shop/orders metadata.labels[app.kubernetes.io/name] -> "}},
		// Design: the ConfigMap's counts follow the StatefulSets.
		{"read-only count stale", func(t *testing.T, d docs) {
			set(t, find(t, d, "StatefulSet", "orders-readonly"), float64(4), "spec", "replicas")
		}, []string{"ConfigMap shop/orders-config data.readonly-replicas -> StatefulSet shop/orders-readonly: is 2 but the StatefulSet says 4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := rendered(t, fullSpec)
			tc.break_(t, d)
			wantFindings(t, verify.Check(d), tc.want)
		})
	}
}

// In the helm-chart layout peers.json names the namespace literally, so moving the objects on a
// layer above leaves it behind: verify compares it with what the pods will advertise there.
func TestHelmChartPeersFollowTheNamespace(t *testing.T) {
	d := rendered(t, "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata: {name: rqlite, namespace: db}\nspec:\n  naming: helm-chart\n  voters: {replicas: 3}\n  shrink: {enabled: false}\n")
	for _, o := range d {
		meta(t, o)["namespace"] = "moved"
	}
	got := problems(verify.Check(d))
	want := `ConfigMap moved/rqlite-config data.peers.json[0].address -> StatefulSet moved/rqlite: "rqlite-0.rqlite-headless.db.svc.cluster.local:4002" is not the Raft address the pod advertises, "rqlite-0.rqlite-headless.moved.svc.cluster.local:4002"`
	if !strings.Contains(got, want) || strings.Count(got, "\n") != 3 {
		t.Errorf("want one finding per peer, the first\n  %s\ngot:\n%s", want, got)
	}
}
