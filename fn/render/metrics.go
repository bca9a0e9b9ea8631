package render

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// MetricsPort is where the exporter sidecar serves /metrics.
const (
	MetricsPort      = 9102
	metricsPortName  = "metrics"
	metricsContainer = "metrics"
)

// metricsSidecar runs `rqlite-fn exporter` beside rqlited. It reaches rqlited on the pod's
// loopback, so it needs no Service and no NetworkPolicy hole of its own towards rqlited.
func metricsSidecar(c *model.Cluster) *corev1.Container {
	m := c.Spec.Spec.Metrics
	if m == nil || !m.Enabled {
		return nil
	}
	args := []string{"exporter", fmt.Sprintf("--rqlite-url=%s://127.0.0.1:%d", c.HTTPScheme(), model.HTTPPort), fmt.Sprintf("--listen=:%d", MetricsPort)}
	var mounts []corev1.VolumeMount
	if t := c.Spec.Spec.TLS; t != nil && t.Client != nil {
		// The certificate names the Services, not 127.0.0.1: verify one of its names.
		args = append(args, "--ca-file="+c.Layout.ClientTLSMount()+"/ca.crt", "--tls-server-name="+c.Voters.Client)
		mounts = append(mounts, corev1.VolumeMount{Name: model.ClientTLSVolume, MountPath: c.Layout.ClientTLSMount(), ReadOnly: true})
	}
	var env []corev1.EnvVar
	if cr := m.Credentials; cr != nil {
		args = append(args, "--username="+cr.Username)
		env = append(env, secretEnv(EnvShrinkPassword, cr.PasswordSecret))
	}
	return &corev1.Container{
		Name:            metricsContainer,
		Image:           m.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            args,
		Env:             env,
		Ports:           []corev1.ContainerPort{{Name: metricsPortName, ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(metricsPortName), Scheme: corev1.URISchemeHTTP}},
			PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1,
		},
		Resources:                helperResources(),
		VolumeMounts:             mounts,
		SecurityContext:          restrictedContainer(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// PodMonitor is the part of the Prometheus operator's PodMonitor (monitoring.coreos.com/v1) the
// function renders; the operator's module is far too large to import for one struct.
type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PodMonitorSpec `json:"spec"`
}

// PodMonitorSpec is the subset in use.
type PodMonitorSpec struct {
	Selector            metav1.LabelSelector `json:"selector"`
	PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
}

// PodMetricsEndpoint is one scraped port.
type PodMetricsEndpoint struct {
	Port     string `json:"port"`
	Path     string `json:"path"`
	Interval string `json:"interval,omitempty"`
}

// DeepCopyObject makes PodMonitor a runtime.Object.
func (p *PodMonitor) DeepCopyObject() runtime.Object {
	out := *p
	out.Spec.PodMetricsEndpoints = append([]PodMetricsEndpoint(nil), p.Spec.PodMetricsEndpoints...)
	return &out
}

func podMonitor(c *model.Cluster) Object {
	m := c.Spec.Spec.Metrics
	if m == nil || !m.Enabled || m.PodMonitor == nil {
		return nil
	}
	meta := meta(c, c.Name, "")
	for k, v := range m.PodMonitor.Labels {
		meta.Labels[k] = v
	}
	return &PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: "monitoring.coreos.com/v1", Kind: "PodMonitor"},
		ObjectMeta: meta,
		Spec: PodMonitorSpec{
			Selector:            *rqlitePods(c),
			PodMetricsEndpoints: []PodMetricsEndpoint{{Port: metricsPortName, Path: "/metrics", Interval: m.PodMonitor.Interval}},
		},
	}
}
