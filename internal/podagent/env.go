package podagent

import (
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Expand applies Kubernetes' $(VAR) syntax to s, as the kubelet does for env values, command
// and args: $(NAME) becomes lookup(NAME) when defined and stays literally "$(NAME)" when not;
// "$$" is an escaped "$" (so "$$(NAME)" yields "$(NAME)"); a "$" followed by anything else, and
// an unterminated "$(", are kept as written.
func Expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envSources is what env resolution reads besides the pod: the agent's caches.
type envSources interface {
	configMap(ns, name string) (*corev1.ConfigMap, error) // nil, nil when it does not exist
	secret(ns, name string) (*corev1.Secret, error)       // nil, nil when it does not exist
	nodeAllocatable() corev1.ResourceList
}

// envList is an ordered environment; later Set calls of an existing name replace its value in
// place, like the kubelet's map-then-list construction.
type envList struct {
	names  []string
	values map[string]string
}

func newEnvList() *envList { return &envList{values: map[string]string{}} }

func (e *envList) Set(k, v string) {
	if _, ok := e.values[k]; !ok {
		e.names = append(e.names, k)
	}
	e.values[k] = v
}

func (e *envList) Lookup(k string) (string, bool) {
	v, ok := e.values[k]
	return v, ok
}

func (e *envList) Environ() []string {
	out := make([]string, len(e.names))
	for i, k := range e.names {
		out[i] = k + "=" + e.values[k]
	}
	return out
}

// containerEnv builds a container's environment the way the kubelet's makeEnvironmentVariables
// does: envFrom sources in order, then env entries in order (a literal value may refer to any
// variable defined before it, or to a service variable), then the service variables that were
// not overridden. serviceEnv holds those service variables (here only KUBERNETES_SERVICE_*,
// since the agent does not inject Docker-link variables). A missing non-optional ConfigMap,
// Secret or key is an error, which the kubelet reports as CreateContainerConfigError and retries.
func containerEnv(pod *corev1.Pod, c *corev1.Container, src envSources, serviceEnv *envList) (*envList, error) {
	env := newEnvList()
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			ref := from.ConfigMapRef
			cm, err := src.configMap(pod.Namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ref.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			ref := from.SecretRef
			s, err := src.secret(pod.Namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ref.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env.Set(from.Prefix+k, data[k])
		}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := env.Lookup(name); ok {
			return v, true
		}
		return serviceEnv.Lookup(name)
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil {
			env.Set(ev.Name, Expand(ev.Value, lookup))
			continue
		}
		v, ok, err := envValueFrom(pod, c, ev.ValueFrom, src)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		if ok {
			env.Set(ev.Name, v)
		}
	}
	for _, k := range serviceEnv.names {
		if _, ok := env.Lookup(k); !ok {
			env.Set(k, serviceEnv.values[k])
		}
	}
	return env, nil
}

func optional(p *bool) bool { return p != nil && *p }

// envValueFrom resolves one valueFrom; ok=false means "leave the variable unset" (an optional
// reference to something missing).
func envValueFrom(pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, src envSources) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := podField(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceField(pod, c, from.ResourceFieldRef, src.nodeAllocatable())
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := src.configMap(pod.Namespace, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := src.secret(pod.Namespace, ref.Name)
		if err != nil {
			return "", false, err
		}
		if s == nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// podField implements the downward API's field paths for env and downwardAPI volumes.
func podField(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		return joinIPs(pod.Status.HostIPs, func(i corev1.HostIP) string { return i.IP }), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		return joinIPs(pod.Status.PodIPs, func(i corev1.PodIP) string { return i.IP }), nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

func joinIPs[T any](ips []T, ip func(T) string) string {
	out := make([]string, len(ips))
	for i, x := range ips {
		out[i] = ip(x)
	}
	return strings.Join(out, ",")
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap is the downward API's key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceField resolves requests.*/limits.* with the divisor, rounding up like the kubelet; a
// limit that is not set falls back to the node's allocatable amount.
func resourceField(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, alloc corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		found := false
		for _, cc := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
			if cc.Name == ref.ContainerName {
				c, found = &cc, true
				break
			}
		}
		if !found {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	var q resource.Quantity
	var set bool
	switch kind {
	case "limits":
		q, set = c.Resources.Limits[corev1.ResourceName(name)]
		if !set {
			q, set = alloc[corev1.ResourceName(name)]
		}
	case "requests":
		q, set = c.Resources.Requests[corev1.ResourceName(name)]
	default:
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	if !set {
		q = resource.Quantity{}
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		v := math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue()))
		return strconv.FormatInt(int64(v), 10), nil
	}
	v := math.Ceil(float64(q.Value()) / float64(div.Value()))
	return strconv.FormatInt(int64(v), 10), nil
}

// kubernetesServiceEnv is what the kubelet always injects for the "kubernetes" Service. With no
// kube-proxy the Service's ClusterIP leads nowhere, so the agent points the variables at the API
// server's loopback address instead; its serving certificate covers 127.0.0.1.
func kubernetesServiceEnv(apiHostPort string) *envList {
	env := newEnvList()
	host, port, err := net.SplitHostPort(apiHostPort)
	if err != nil {
		return env
	}
	env.Set("KUBERNETES_SERVICE_HOST", host)
	env.Set("KUBERNETES_SERVICE_PORT", port)
	env.Set("KUBERNETES_SERVICE_PORT_HTTPS", port)
	env.Set("KUBERNETES_PORT", "tcp://"+net.JoinHostPort(host, port))
	env.Set("KUBERNETES_PORT_"+port+"_TCP", "tcp://"+net.JoinHostPort(host, port))
	env.Set("KUBERNETES_PORT_"+port+"_TCP_PROTO", "tcp")
	env.Set("KUBERNETES_PORT_"+port+"_TCP_PORT", port)
	env.Set("KUBERNETES_PORT_"+port+"_TCP_ADDR", host)
	return env
}

// now is a seam for status timestamps.
var now = metav1.Now
