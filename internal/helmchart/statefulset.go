package helmchart

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// statefulSet is a pool's StatefulSet: <release>[-readonly], governed by its headless Service,
// claims named "storage" mounted at /rqlite (so PVCs are storage-<pod>), uid/gid 10050, the
// chart's architecture affinity, and a container without a security context or limits (which
// the restricted Pod Security standard and kube-score refuse).
func statefulSet(ch Chart, component string) *appsv1.StatefulSet {
	suffix, replicas := "", ch.Voters
	if component == "readonly" {
		suffix, replicas = "-readonly", ch.ReadOnly
	}
	claim := corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "storage", Labels: ch.ClaimLabels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(ch.Size)}},
		},
	}
	if ch.StorageClass != "" {
		claim.Spec.StorageClassName = ptr.To(ch.StorageClass)
	}
	pod := corev1.PodSpec{
		ServiceAccountName:            ch.ServiceAccount,
		TerminationGracePeriodSeconds: ptr.To[int64](15),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser: ptr.To[int64](10050), RunAsGroup: ptr.To[int64](10050), FSGroup: ptr.To[int64](10050),
			FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "386", "arm", "arm64"}}},
			}}},
		}},
		Volumes:    volumes(ch),
		Containers: []corev1.Container{container(ch, component)},
	}
	if ch.ServiceAccount == "" {
		pod.AutomountServiceAccountToken = ptr.To(false)
	}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: Release + suffix, Labels: chartLabels(component)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To(replicas),
			PodManagementPolicy:  appsv1.ParallelPodManagement,
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Selector:             &metav1.LabelSelector{MatchLabels: selector(component)},
			ServiceName:          Release + "-headless" + suffix,
			Template:             corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector(component)}, Spec: pod},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
		},
	}
}

// volumes are the users Secret, the extra files Secret, the peers ConfigMap and the TLS Secrets.
func volumes(ch Chart) []corev1.Volume {
	// Mode 288 is 0440 (the chart's comment says 0400): readable by the fsGroup 10050 too.
	secret := func(name, secret string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr.To[int32](0o440)}}}
	}
	vs := []corev1.Volume{
		secret("secrets", Release), secret("extra", Release+"-extra"),
		{Name: "config-peers", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: Release + "-peers"}}}},
	}
	for _, v := range ch.TLSVolumes {
		vs = append(vs, secret(v[0], v[1]))
	}
	return vs
}

func container(ch Chart, component string) corev1.Container {
	c := corev1.Container{
		Name:  "rqlite",
		Image: Image,
		Ports: []corev1.ContainerPort{{ContainerPort: 4001, Name: "http"}, {ContainerPort: 4002, Name: "raft"}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "storage", MountPath: "/rqlite"}, {Name: "secrets", MountPath: "/config/sensitive"},
			{Name: "extra", MountPath: "/config/extra"}, {Name: "config-peers", MountPath: "/config/peers"},
		},
	}
	for _, v := range ch.TLSVolumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v[0], MountPath: "/config/" + v[0]})
	}
	if !ch.PodDetails {
		return c
	}
	// The flags: DNS SRV discovery on the voters' headless Service (both pools join the voters),
	// the voter count through the environment so scaling does not roll the pods, the read-only
	// pool as non-voters that leave on shutdown, then extraArgs.
	pool := []string{"-bootstrap-expect=$(RQLITE_VOTER_REPLICA_COUNT)"}
	if component == "readonly" {
		pool = []string{"-raft-cluster-remove-shutdown=true", "-raft-non-voter=true"}
	}
	c.Command = []string{"/bin/sh", "-c"}
	c.Args = append([]string{script, "-disco-mode=dns-srv", fmt.Sprintf(`-disco-config={"name":"%s-headless","service":"raft"}`, Release)}, pool...)
	c.Args = append(c.Args, "-join-interval=1s", "-join-attempts=120", "-raft-shutdown-stepdown")
	c.Args = append(c.Args, ch.ExtraArgs...)
	c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
	}}
	fromPeers := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: Release + "-peers"}, Key: key,
		}}}
	}
	c.Env = []corev1.EnvVar{{Name: "DATA_DIR", Value: "/rqlite"}, fromPeers("RQLITE_USE_STATIC_PEERS", "use-static-peers")}
	if component == "voter" {
		c.Env = append(c.Env, fromPeers("RQLITE_VOTER_REPLICA_COUNT", "voter-replica-count"))
	}
	// Readiness without a users file sends an empty Authorization header.
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/readyz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "Authorization", Value: ""}},
		}},
		InitialDelaySeconds: 3, PeriodSeconds: 5, TimeoutSeconds: 2,
	}
	// An exec preStop sleep: a render that sets the native sleep action beside it is refused.
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "2"}}}}
	return c
}
