package podagent

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y z", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"":                     "",
		"plain":                "plain",
		"$(A)":                 "x",
		"-flag=$(A)-$(B)":      "-flag=x-y z",
		"$(EMPTY)":             "",
		"$(UNDEFINED)":         "$(UNDEFINED)",
		"$$(A)":                "$(A)",
		"$$$(A)":               "$x",
		"$$":                   "$",
		"$A":                   "$A",
		"cost $5":              "cost $5",
		"trailing $":           "trailing $",
		"$(A":                  "$(A",
		"$(A)$(":               "x$(",
		"$()":                  "$()",
		"nested $(A$(B))":      "nested $(A$(B))",
		`{"name":"$(A)"}`:      `{"name":"x"}`,
		"$(A)$(B)$(UNDEFINED)": "xy z$(UNDEFINED)",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (f fakeSources) configMap(_, name string) (*corev1.ConfigMap, error) { return f.cms[name], nil }
func (f fakeSources) secret(_, name string) (*corev1.Secret, error)       { return f.secrets[name], nil }
func (f fakeSources) nodeAllocatable() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourceCPU: resource.MustParse("2")}
}

func TestContainerEnv(t *testing.T) {
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rqlite-0", Namespace: "db", UID: "u-1", Labels: map[string]string{"app": "rq"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
		Status:     corev1.PodStatus{PodIP: "127.1.2.3", HostIP: "127.1.2.254"},
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	c := &corev1.Container{
		Name: "c",
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}, Prefix: "CM_"},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: &yes}},
		},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: field("metadata.name")},
			{Name: "POD_NAMESPACE", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "IP", ValueFrom: field("status.podIP")},
			{Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "ADDR", Value: "$(POD_NAME).h.$(POD_NAMESPACE):$(LATER)"},
			{Name: "LATER", Value: "4002"},
			{Name: "SVC", Value: "$(KUBERNETES_SERVICE_HOST)"},
			{Name: "EXPECT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "bootstrap-expect"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "nope", Optional: &yes}}},
			{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "p"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu"}}},
		},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
	}
	src := fakeSources{
		cms:     map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"bootstrap-expect": "3", "voters": "3"}}},
		secrets: map[string]*corev1.Secret{"s": {Data: map[string][]byte{"p": []byte("pw")}}},
	}
	env, err := containerEnv(pod, c, src, kubernetesServiceEnv("127.0.0.1:6443"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"CM_bootstrap-expect": "3", "CM_voters": "3",
		"POD_NAME": "rqlite-0", "POD_NAMESPACE": "db", "UID": "u-1", "NODE": "n1", "SA": "sa",
		"IP": "127.1.2.3", "APP": "rq",
		// LATER is defined after ADDR, so the reference stays literal, as with the kubelet.
		"ADDR": "rqlite-0.h.db:$(LATER)", "LATER": "4002", "SVC": "127.0.0.1",
		"EXPECT": "3", "PASS": "pw", "MEM": "16384", "CPU": "1",
		"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443",
	}
	for k, v := range want {
		if got, ok := env.Lookup(k); !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := env.Lookup("OPT"); ok {
		t.Errorf("optional reference to a missing key must leave OPT unset")
	}

	c.Env = append(c.Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}})
	if _, err := containerEnv(pod, c, src, newEnvList()); err == nil || !strings.Contains(err.Error(), `configmap "absent" not found`) {
		t.Errorf("missing non-optional ConfigMap: err = %v", err)
	}
}

func TestRewriteBindAll(t *testing.T) {
	for in, want := range map[string]string{
		"-http-addr=0.0.0.0:4001": "-http-addr=127.9.9.9:4001",
		"0.0.0.0:4002":            "127.9.9.9:4002",
		"--listen=0.0.0.0:80":     "--listen=127.9.9.9:80",
		"-http-adv-addr=x:4001":   "-http-adv-addr=x:4001",
		"10.0.0.0:1":              "10.0.0.0:1",
		"-msg=bind 0.0.0.0:1":     "-msg=bind 0.0.0.0:1",
		"/rqlite/file/data":       "/rqlite/file/data",
	} {
		if got := rewriteBindAll(in, "127.9.9.9"); got != want {
			t.Errorf("rewriteBindAll(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIdentity(t *testing.T) {
	u, g, fs := int64(10050), int64(10050), int64(10050)
	yes := true
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		RunAsUser: &u, RunAsGroup: &g, FSGroup: &fs, RunAsNonRoot: &yes, SupplementalGroups: []int64{5, 10050},
	}}}
	uid, gid, groups, err := identity(pod, &corev1.Container{})
	if err != nil || uid != 10050 || gid != 10050 || !slices.Equal(groups, []uint32{5, 10050}) {
		t.Errorf("identity = %d %d %v %v", uid, gid, groups, err)
	}
	root := int64(0)
	_, _, _, err = identity(pod, &corev1.Container{SecurityContext: &corev1.SecurityContext{RunAsUser: &root}})
	if err == nil {
		t.Errorf("runAsNonRoot with runAsUser 0 must not start")
	}
	_, _, _, err = identity(&corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes}}}, &corev1.Container{})
	if err == nil {
		t.Errorf("runAsNonRoot without runAsUser must not start (the image's USER is unknown)")
	}
}

func TestPublishedAddresses(t *testing.T) {
	if got := published("127.20.30.4"); got != "10.20.30.4" {
		t.Errorf("published = %s", got)
	}
	for in, want := range map[string]string{"10.20.30.4": "127.20.30.4", "10.96.0.1": "10.96.0.1", "192.168.1.1": "192.168.1.1"} {
		if got := local(in); got != want {
			t.Errorf("local(%s) = %s, want %s", in, got, want)
		}
	}
}
