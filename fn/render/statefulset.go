package render

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	// TerminationGracePeriod covers the slowest clean exit: a read-only node removing itself from
	// the cluster retries for about 26 s when there is no leader, and a voter stepping down must
	// hand over leadership before it exits.
	TerminationGracePeriod int64 = 45
	// preStopSleep keeps the pod serving while endpoints controllers and kube-proxy drop it from
	// the Services, so clients are not sent to a process that is already exiting.
	preStopSleep int64 = 5
	// tmpSize bounds SQLite's temporary files (large sorts, VACUUM).
	tmpSize = "256Mi"
)

func statefulSet(c *model.Cluster, p *model.Pool) *appsv1.StatefulSet {
	st := &c.Spec.Spec.Storage
	vct := corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name: model.DataVolume,
			// Selector labels only: volumeClaimTemplates are immutable, so nothing that changes
			// over the cluster's life (version) may appear here.
			Labels: c.Selector(p.Component),
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: st.StorageClassName,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: *st.Size},
			},
		},
	}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta(c, p.StatefulSet, p.Component),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            p.Replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: c.Selector(p.Component)},
			ServiceName:         p.Headless,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType,
			},
			// A restarted voter must be ready (caught up) for a while before the next one goes,
			// or a rolling update could take two voters down in quick succession.
			MinReadySeconds: 10,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.PersistentVolumeClaimRetentionPolicyType(st.RetentionPolicy.WhenDeleted),
				WhenScaled:  appsv1.PersistentVolumeClaimRetentionPolicyType(st.RetentionPolicy.WhenScaled),
			},
			Template:             podTemplate(c, p),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{vct},
		},
	}
}

// podTemplate depends on the pool's configuration but never on a count or a switch: those reach
// the pods through the ConfigMap, so scaling and recovery never roll the pods.
func podTemplate(c *model.Cluster, p *model.Pool) corev1.PodTemplateSpec {
	spec := &c.Spec.Spec
	labels := c.Labels(p.Component)
	for k, v := range p.Spec.PodLabels {
		labels[k] = v
	}
	annotations := map[string]string{"kubectl.kubernetes.io/default-container": model.ContainerName}
	for k, v := range p.Spec.PodAnnotations {
		annotations[k] = v
	}
	sch := &p.Spec.Scheduling
	pod := corev1.PodSpec{
		ServiceAccountName:            c.ServiceAccount(),
		AutomountServiceAccountToken:  ptr(false),
		EnableServiceLinks:            ptr(false),
		TerminationGracePeriodSeconds: ptr(TerminationGracePeriod),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:        ptr(true),
			RunAsUser:           ptr(int64(model.RunAsUser)),
			RunAsGroup:          ptr(int64(model.RunAsUser)),
			FSGroup:             ptr(int64(model.RunAsUser)),
			FSGroupChangePolicy: ptr(corev1.FSGroupChangeOnRootMismatch),
			SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		ImagePullSecrets:          spec.ImagePullSecrets,
		NodeSelector:              sch.NodeSelector,
		Tolerations:               sch.Tolerations,
		PriorityClassName:         sch.PriorityClassName,
		Affinity:                  affinity(c, p),
		TopologySpreadConstraints: topologySpread(c, p),
		Containers:                []corev1.Container{rqliteContainer(c, p)},
		Volumes:                   volumes(c, p),
	}
	if !p.ReadOnly {
		pod.InitContainers = []corev1.Container{peersInitContainer(c)}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       pod,
	}
}

// Args are rqlited's flags for a pool, in a fixed order. Values that change with scale are
// $(VAR) references the kubelet expands from the ConfigMap at pod start.
func Args(c *model.Cluster, p *model.Pool) []string {
	args := []string{
		"-node-id=$(" + model.EnvPodName + ")",
		fmt.Sprintf("-http-addr=0.0.0.0:%d", model.HTTPPort),
		"-http-adv-addr=" + c.HTTPAdvertiseArg(p),
		fmt.Sprintf("-raft-addr=0.0.0.0:%d", model.RaftPort),
		"-raft-adv-addr=" + p.RaftAddress("$("+model.EnvPodName+")"),
		"-disco-mode=dns",
		fmt.Sprintf(`-disco-config={"name":%q}`, c.Voters.Headless),
		"-join-interval=1s",
		"-join-attempts=120",
	}
	if p.ReadOnly {
		// A read-only node leaves the configuration when its pod stops, so scaling the pool down
		// never leaves unreachable members behind.
		args = append(args, "-raft-non-voter=true", "-raft-cluster-remove-shutdown=true")
	} else {
		args = append(args,
			"-bootstrap-expect=$("+model.EnvBootstrapExpect+")",
			// A leader that is shut down hands leadership over first, so a rolling update costs
			// no election timeout.
			"-raft-shutdown-stepdown",
		)
	}
	args = append(args, p.Spec.ExtraArgs...)
	return append(args, model.DataDir)
}

func rqliteContainer(c *model.Cluster, p *model.Pool) corev1.Container {
	spec := &c.Spec.Spec
	env := []corev1.EnvVar{
		{Name: model.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: model.EnvPodNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	if !p.ReadOnly {
		env = append(env, configEnv(c, model.EnvBootstrapExpect, model.KeyBootstrapExpect))
	}
	env = append(env, p.Spec.ExtraEnv...)
	mounts := []corev1.VolumeMount{
		{Name: model.DataVolume, MountPath: model.DataMount},
		{Name: model.TmpVolume, MountPath: "/tmp"},
	}
	mounts = append(mounts, p.Spec.ExtraVolumeMounts...)
	return corev1.Container{
		Name:            model.ContainerName,
		Image:           spec.Image,
		ImagePullPolicy: spec.ImagePullPolicy,
		Command:         []string{model.RqlitedBinary},
		Args:            Args(c, p),
		Ports: []corev1.ContainerPort{
			{Name: model.HTTPPortName, ContainerPort: model.HTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: model.RaftPortName, ContainerPort: model.RaftPort, Protocol: corev1.ProtocolTCP},
		},
		Env:             env,
		Resources:       *p.Spec.Resources,
		VolumeMounts:    mounts,
		StartupProbe:    probe(StartupPath, 5, 2, 60, p.Spec.Probes.Startup),
		ReadinessProbe:  probe(ReadinessPath, 5, 3, 3, p.Spec.Probes.Readiness),
		LivenessProbe:   probe(LivenessPath, 10, 5, 6, p.Spec.Probes.Liveness),
		SecurityContext: restrictedContainer(),
		Lifecycle: &corev1.Lifecycle{
			PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStopSleep}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// Probe endpoints. Readiness waits until the node has applied the leader's log up to the moment
// of the probe (sync), so a node that rejoins with an old volume never enters the Services while
// it still holds stale data. Liveness and startup only ask whether the process serves HTTP: a
// node without a leader is not broken, and restarting it would not bring the leader back.
const (
	ReadinessPath = "/readyz?sync&timeout=2s"
	LivenessPath  = "/readyz?noleader"
	StartupPath   = "/readyz?noleader"
)

func probe(path string, period, timeout, failures int32, o *v1alpha1.ProbeOverride) *corev1.Probe {
	pr := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromString(model.HTTPPortName),
			Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    period,
		TimeoutSeconds:   timeout,
		FailureThreshold: failures,
		SuccessThreshold: 1,
	}
	if o != nil {
		set := func(dst *int32, src *int32) {
			if src != nil {
				*dst = *src
			}
		}
		set(&pr.InitialDelaySeconds, o.InitialDelaySeconds)
		set(&pr.PeriodSeconds, o.PeriodSeconds)
		set(&pr.TimeoutSeconds, o.TimeoutSeconds)
		set(&pr.FailureThreshold, o.FailureThreshold)
		set(&pr.SuccessThreshold, o.SuccessThreshold)
	}
	return pr
}

// peersScript installs peers.json only while the recovery switch is on. It reads the switch from
// the environment (the ConfigMap) at pod start, so flipping it never changes the pod template, and
// it removes a stale copy when the switch is off so an old file is never applied by accident.
const peersScript = `set -eu
raft="` + model.DataDir + `/raft"
if [ "${` + model.EnvStaticPeers + `}" = "true" ]; then
  mkdir -p "$raft"
  cp ` + model.ConfigMount + `/` + model.KeyPeersJSON + ` "$raft/peers.json"
  echo "recovery: installed peers.json for ${` + model.EnvPodName + `}; set spec.recovery.staticPeers=false once the cluster is back"
else
  rm -f "$raft/peers.json"
fi
`

func peersInitContainer(c *model.Cluster) corev1.Container {
	spec := &c.Spec.Spec
	return corev1.Container{
		Name:            model.PeersInitName,
		Image:           spec.Image,
		ImagePullPolicy: spec.ImagePullPolicy,
		Command:         []string{"/bin/sh", "-c", peersScript},
		Env: []corev1.EnvVar{
			{Name: model.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			configEnv(c, model.EnvStaticPeers, model.KeyStaticPeers),
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:              resource.MustParse("10m"),
				corev1.ResourceMemory:           resource.MustParse("16Mi"),
				corev1.ResourceEphemeralStorage: resource.MustParse("1Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory:           resource.MustParse("64Mi"),
				corev1.ResourceEphemeralStorage: resource.MustParse("16Mi"),
			},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: model.DataVolume, MountPath: model.DataMount},
			{Name: model.ConfigVolume, MountPath: model.ConfigMount, ReadOnly: true},
		},
		SecurityContext:          restrictedContainer(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func configEnv(c *model.Cluster, name, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: c.ConfigMap()},
		Key:                  key,
	}}}
}

// restrictedContainer satisfies the "restricted" Pod Security Standard.
func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(true),
		RunAsNonRoot:             ptr(true),
	}
}

func volumes(c *model.Cluster, p *model.Pool) []corev1.Volume {
	tmp := resource.MustParse(tmpSize)
	vs := []corev1.Volume{
		{Name: model.TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmp}}},
	}
	if !p.ReadOnly {
		vs = append(vs, corev1.Volume{Name: model.ConfigVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: c.ConfigMap()},
			Items:                []corev1.KeyToPath{{Key: model.KeyPeersJSON, Path: model.KeyPeersJSON}},
			DefaultMode:          ptr(int32(0o444)),
		}}})
	}
	return append(vs, p.Spec.ExtraVolumes...)
}

func affinity(c *model.Cluster, p *model.Pool) *corev1.Affinity {
	sch := &p.Spec.Scheduling
	if sch.Affinity != nil {
		return sch.Affinity
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: c.Selector(p.Component)},
		TopologyKey:   "kubernetes.io/hostname",
	}
	switch sch.AntiAffinity {
	case v1alpha1.AntiAffinityRequired:
		return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term},
		}}
	case v1alpha1.AntiAffinityNone:
		return nil
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}},
	}}
}

func topologySpread(c *model.Cluster, p *model.Pool) []corev1.TopologySpreadConstraint {
	if tsc := p.Spec.Scheduling.TopologySpreadConstraints; len(tsc) > 0 {
		return tsc
	}
	// ScheduleAnyway: a single-zone cluster must still run the database.
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       "topology.kubernetes.io/zone",
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: c.Selector(p.Component)},
	}}
}
