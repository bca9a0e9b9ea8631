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
	claimLabels := c.Selector(p.Component)
	if c.Layout.UnlabelledClaims {
		claimLabels = nil
	}
	vct := corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Layout.Claim,
			// Selector labels only: volumeClaimTemplates are immutable, so nothing that changes
			// over the cluster's life (version) may appear here.
			Labels: claimLabels,
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
		Containers:                containers(c, p),
		Volumes:                   volumes(c, p),
	}
	if !p.ReadOnly {
		pod.InitContainers = []corev1.Container{peersInitContainer(c)}
	}
	for _, x := range p.Spec.ExtraInitContainers {
		pod.InitContainers = append(pod.InitContainers, restricted(x))
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       pod,
	}
}

func containers(c *model.Cluster, p *model.Pool) []corev1.Container {
	cs := []corev1.Container{rqliteContainer(c, p)}
	if m := metricsSidecar(c); m != nil {
		cs = append(cs, *m)
	}
	for _, x := range p.Spec.ExtraContainers {
		cs = append(cs, restricted(x))
	}
	return cs
}

// restricted fills in what the "restricted" Pod Security Standard requires of a user's container
// and the user left unset, so a sidecar written without a securityContext does not keep every pod
// of the pool from being admitted. Validation refuses explicit settings the standard forbids.
func restricted(c corev1.Container) corev1.Container {
	sc := c.SecurityContext.DeepCopy()
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if sc.AllowPrivilegeEscalation == nil {
		sc.AllowPrivilegeEscalation = ptr(false)
	}
	if sc.Capabilities == nil {
		sc.Capabilities = &corev1.Capabilities{}
	}
	if len(sc.Capabilities.Drop) == 0 {
		sc.Capabilities.Drop = []corev1.Capability{"ALL"}
	}
	if sc.RunAsNonRoot == nil {
		sc.RunAsNonRoot = ptr(true)
	}
	if sc.ReadOnlyRootFilesystem == nil {
		sc.ReadOnlyRootFilesystem = ptr(true)
	}
	c.SecurityContext = sc
	return c
}

// Args are rqlited's flags for a pool, in a fixed order. Values that change with scale are
// $(VAR) references the kubelet expands from the ConfigMap at pod start.
func Args(c *model.Cluster, p *model.Pool) []string {
	args := []string{
		"-node-id=$(" + model.EnvPodName + ")",
		fmt.Sprintf("-http-addr=0.0.0.0:%d", model.HTTPPort),
		"-http-adv-addr=" + c.HTTPAdvertiseArg(p),
		fmt.Sprintf("-raft-addr=0.0.0.0:%d", model.RaftPort),
		"-raft-adv-addr=" + c.RaftAdvertiseArg(p),
		"-disco-mode=dns",
		// No -join-interval/-join-attempts: rqlited (v8.43.4) reads them only for -join and
		// etcd/consul discovery; under DNS discovery its bootstrapper retries on its own
		// schedule until -bootstrap-expect-timeout.
		fmt.Sprintf(`-disco-config={"name":%q}`, c.Voters.Headless),
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
	args = append(args, featureArgs(c, p)...)
	args = append(args, p.Spec.ExtraArgs...)
	return append(args, c.Layout.DataDir)
}

// featureArgs are the flags of the optional features: TLS, authentication and backups.
func featureArgs(c *model.Cluster, p *model.Pool) []string {
	spec := &c.Spec.Spec
	var args []string
	if t := spec.TLS; t != nil && t.Node != nil {
		args = append(args,
			"-node-cert="+c.Layout.NodeTLSMount()+"/tls.crt",
			"-node-key="+c.Layout.NodeTLSMount()+"/tls.key",
			"-node-ca-cert="+c.Layout.NodeTLSMount()+"/ca.crt",
			// Every node presents the same certificate, which names the voters' headless Service,
			// so one name verifies any peer whatever address it was dialled on.
			"-node-verify-server-name="+c.Voters.Headless,
		)
		if t.Node.VerifyClient {
			args = append(args, "-node-verify-client")
		}
	}
	if t := spec.TLS; t != nil && t.Client != nil {
		args = append(args,
			"-http-cert="+c.Layout.ClientTLSMount()+"/tls.crt",
			"-http-key="+c.Layout.ClientTLSMount()+"/tls.key",
			"-http-ca-cert="+c.Layout.ClientTLSMount()+"/ca.crt",
		)
		if t.Client.VerifyClient {
			args = append(args, "-http-verify-client")
		}
	}
	if a := spec.Auth; a != nil {
		args = append(args, "-auth="+c.Layout.AuthMount()+"/"+model.UsersFile, "-join-as="+a.JoinAs)
	}
	// Backups run on the leader, which is always a voter; restores seed a new cluster's voters and
	// read-only nodes receive the data through Raft.
	if b := spec.Backup; b != nil && !p.ReadOnly {
		args = append(args, "-auto-backup="+c.Layout.ConfigMount+"/"+model.KeyBackup)
		if b.Restore != nil && b.Restore.Enabled {
			args = append(args, "-auto-restore="+c.Layout.ConfigMount+"/"+model.KeyRestore)
		}
	}
	return args
}

func rqliteContainer(c *model.Cluster, p *model.Pool) corev1.Container {
	spec := &c.Spec.Spec
	env := []corev1.EnvVar{
		{Name: model.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: model.EnvPodNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	if !p.ReadOnly {
		env = append(env, configEnv(c, model.EnvBootstrapExpect, model.KeyBootstrapExpect))
		if b := spec.Backup; b != nil && b.S3 != nil && b.S3.AccessKeyID != nil {
			env = append(env, secretEnv(model.EnvS3AccessKey, *b.S3.AccessKeyID), secretEnv(model.EnvS3SecretKey, *b.S3.SecretAccessKey))
		}
	}
	env = append(env, p.Spec.ExtraEnv...)
	mounts := []corev1.VolumeMount{
		{Name: c.Layout.Claim, MountPath: c.Layout.DataMount},
		tmpMount(c, p),
	}
	if !p.ReadOnly && spec.Backup != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: model.ConfigVolume, MountPath: c.Layout.ConfigMount, ReadOnly: true})
	}
	for _, v := range featureVolumes(c, p) {
		mounts = append(mounts, corev1.VolumeMount{Name: v.vol.Name, MountPath: v.mount, ReadOnly: true})
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
		StartupProbe:    probe(c, StartupPath, 5, 2, 60, p.Spec.Probes.Startup),
		ReadinessProbe:  probe(c, ReadinessPath, 5, 3, 3, p.Spec.Probes.Readiness),
		LivenessProbe:   probe(c, LivenessPath, 10, 5, 6, p.Spec.Probes.Liveness),
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
// rqlited serves HTTP before it opens its store, so they also keep passing while a large snapshot
// is restored (TestProbesWhileTheStoreOpens); the startup probe's budget covers what comes before
// HTTP, an -auto-restore download included.
const (
	ReadinessPath = "/readyz?sync&timeout=2s"
	LivenessPath  = "/readyz?noleader"
	StartupPath   = "/readyz?noleader"
)

func probe(c *model.Cluster, path string, period, timeout, failures int32, o *v1alpha1.ProbeOverride) *corev1.Probe {
	handler := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path:   path,
		Port:   intstr.FromString(model.HTTPPortName),
		Scheme: corev1.URISchemeHTTP,
	}}
	if t := c.Spec.Spec.TLS; t != nil && t.Client != nil {
		// The kubelet does not verify a probe's certificate, so HTTPS needs nothing more; but it
		// cannot present a client certificate, so with client mTLS only a TCP check is possible.
		handler.HTTPGet.Scheme = corev1.URISchemeHTTPS
		if t.Client.VerifyClient {
			handler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(model.HTTPPortName)}}
		}
	}
	pr := &corev1.Probe{
		ProbeHandler:     handler,
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
//
// Only a volume that holds Raft state (raft.db) gets the file. rqlited recovers an empty node from
// peers.json too, into an empty log that already names every voter, and two such nodes (lost
// volumes of a 3-voter cluster) can elect each other and lead the survivor, whose data the new
// leader cannot replicate: the cluster would come back empty. Left without peers.json and without a
// configuration, a fresh node only votes, and the survivor, whose log is the newest, wins.
func peersScript(l model.Layout) string {
	return `set -eu
raft="` + l.DataDir + `/raft"
if [ "${` + model.EnvStaticPeers + `}" != "true" ]; then
  rm -f "$raft/peers.json"
elif [ -f "` + l.DataDir + `/raft.db" ]; then
  mkdir -p "$raft"
  cp ` + l.ConfigMount + `/` + model.KeyPeersJSON + ` "$raft/peers.json"
  echo "recovery: installed peers.json for ${` + model.EnvPodName + `}; set spec.recovery.staticPeers=false once the cluster is back"
else
  rm -f "$raft/peers.json"
  echo "recovery: ${` + model.EnvPodName + `} has no Raft state (a new or lost volume): peers.json not installed; it joins the recovered cluster"
fi
`
}

func peersInitContainer(c *model.Cluster) corev1.Container {
	spec := &c.Spec.Spec
	return corev1.Container{
		Name:            model.PeersInitName,
		Image:           spec.Image,
		ImagePullPolicy: spec.ImagePullPolicy,
		Command:         []string{"/bin/sh", "-c", peersScript(c.Layout)},
		Env: []corev1.EnvVar{
			{Name: model.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			configEnv(c, model.EnvStaticPeers, model.KeyStaticPeers),
		},
		Resources: helperResources(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: c.Layout.Claim, MountPath: c.Layout.DataMount},
			{Name: model.ConfigVolume, MountPath: c.Layout.ConfigMount, ReadOnly: true},
		},
		SecurityContext:          restrictedContainer(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func secretEnv(name string, ref v1alpha1.SecretKeyRef) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
		Key:                  ref.Key,
	}}}
}

// featureVolume is a Secret volume of an optional feature and where rqlited reads it.
type featureVolume struct {
	vol   corev1.Volume
	mount string
}

// secretFileMode lets the pod's group (fsGroup) read the files and nobody else.
const secretFileMode int32 = 0o440

func secretVolume(name, secret string, items ...corev1.KeyToPath) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: secret, Items: items, DefaultMode: ptr(secretFileMode),
	}}}
}

func tlsItems() []corev1.KeyToPath {
	return []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}, {Key: "ca.crt", Path: "ca.crt"}}
}

func featureVolumes(c *model.Cluster, p *model.Pool) []featureVolume {
	spec := &c.Spec.Spec
	var vs []featureVolume
	if t := spec.TLS; t != nil && t.Node != nil {
		vs = append(vs, featureVolume{secretVolume(model.NodeTLSVolume, t.Node.SecretName, tlsItems()...), c.Layout.NodeTLSMount()})
	}
	if t := spec.TLS; t != nil && t.Client != nil {
		vs = append(vs, featureVolume{secretVolume(model.ClientTLSVolume, t.Client.SecretName, tlsItems()...), c.Layout.ClientTLSMount()})
	}
	if a := spec.Auth; a != nil {
		vs = append(vs, featureVolume{secretVolume(model.AuthVolume, a.UsersSecret.Name, corev1.KeyToPath{Key: a.UsersSecret.Key, Path: model.UsersFile}), c.Layout.AuthMount()})
	}
	if b := spec.Backup; b != nil && b.GCS != nil && !p.ReadOnly {
		g := b.GCS.CredentialsSecret
		vs = append(vs, featureVolume{secretVolume(model.GCSVolume, g.Name, corev1.KeyToPath{Key: g.Key, Path: model.GCSFile}), c.Layout.GCSMount()})
	}
	return vs
}

// helperResources bound the small helpers beside rqlited (the peers init container, the metrics
// sidecar): they hold no data and serve nothing heavy.
func helperResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("10m"),
			corev1.ResourceMemory:           resource.MustParse("16Mi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("1Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory:           resource.MustParse("64Mi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("16Mi"),
		},
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

// stagesBackups reports whether the pool's rqlited writes whole database copies to its temporary
// directory: uploads and restores are staged there before they go out or are loaded.
func stagesBackups(c *model.Cluster, p *model.Pool) bool {
	return c.Spec.Spec.Backup != nil && !p.ReadOnly
}

// tmpMount is rqlited's temporary directory: a small emptyDir, or, where backups are staged, a
// directory on the data volume, which is sized for the database (an emptyDir counts against the
// pod's ephemeral-storage limit, and the kubelet would evict the pod mid-upload).
func tmpMount(c *model.Cluster, p *model.Pool) corev1.VolumeMount {
	if stagesBackups(c, p) {
		return corev1.VolumeMount{Name: c.Layout.Claim, MountPath: "/tmp", SubPath: "tmp"}
	}
	return corev1.VolumeMount{Name: model.TmpVolume, MountPath: "/tmp"}
}

func volumes(c *model.Cluster, p *model.Pool) []corev1.Volume {
	var vs []corev1.Volume
	if !stagesBackups(c, p) {
		tmp := resource.MustParse(tmpSize)
		vs = append(vs, corev1.Volume{Name: model.TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmp}}})
	}
	if !p.ReadOnly {
		items := []corev1.KeyToPath{{Key: model.KeyPeersJSON, Path: model.KeyPeersJSON}}
		if b := c.Spec.Spec.Backup; b != nil {
			items = append(items, corev1.KeyToPath{Key: model.KeyBackup, Path: model.KeyBackup})
			if b.Restore != nil && b.Restore.Enabled {
				items = append(items, corev1.KeyToPath{Key: model.KeyRestore, Path: model.KeyRestore})
			}
		}
		vs = append(vs, corev1.Volume{Name: model.ConfigVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: c.ConfigMap()},
			Items:                items,
			DefaultMode:          ptr(int32(0o444)),
		}}})
	}
	for _, f := range featureVolumes(c, p) {
		vs = append(vs, f.vol)
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
