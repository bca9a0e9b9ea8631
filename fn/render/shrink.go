package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/model"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Ordering annotations. The Job must finish before the StatefulSet with fewer replicas is applied:
// it lowers replicas itself, batch by batch, so that applying the StatefulSet afterwards changes
// nothing. Argo CD runs it as a PreSync hook (after its RBAC, by sync wave); kpt waits for it
// through depends-on on the StatefulSet.
const (
	argoHook          = "argocd.argoproj.io/hook"
	argoHookDelete    = "argocd.argoproj.io/hook-delete-policy"
	argoSyncWave      = "argocd.argoproj.io/sync-wave"
	kptDependsOn      = "config.kubernetes.io/depends-on"
	shrinkTTLSeconds  = 24 * 60 * 60 // long enough to read the logs the next morning
	shrinkBackoff     = 6
	shrinkDeadline    = 60 * 60
	shrinkServicePath = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// shrinkObjects renders the voter shrink Job and its least-privilege RBAC. They are rendered for
// every spec, not only when voters go down: the function is stateless and cannot know the current
// size; the Job reads it at run time and exits at once when there is nothing to remove.
func shrinkObjects(c *model.Cluster) []Object {
	if !c.HasShrinkJob() {
		return nil
	}
	hook := func(m metav1.ObjectMeta, wave string) metav1.ObjectMeta {
		m.Annotations[argoHook] = "PreSync"
		m.Annotations[argoHookDelete] = "BeforeHookCreation"
		m.Annotations[argoSyncWave] = wave
		return m
	}
	name := c.ShrinkRBAC()
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: hook(meta(c, name, model.ComponentShrink), "-2"),
		// The token is mounted only into the Job's pod, which sets automount itself.
		AutomountServiceAccountToken: ptr(false),
	}
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: hook(meta(c, name, model.ComponentShrink), "-2"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, ResourceNames: []string{c.Voters.StatefulSet}, Verbs: []string{"get"}},
			{APIGroups: []string{"apps"}, Resources: []string{"statefulsets/scale"}, ResourceNames: []string{c.Voters.StatefulSet}, Verbs: []string{"get", "patch", "update"}},
			// list and watch cannot be narrowed by name; the Job filters by the voter selector.
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{c.ConfigMap()}, Verbs: []string{"get"}},
			// A Job finds out whether a newer shrink Job (a later change) supersedes it.
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: hook(meta(c, name, model.ComponentShrink), "-2"),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: c.Namespace}},
	}
	if c.Namespace == "" {
		// The subject's namespace is filled in by kustomize's namespace transformer or must match
		// the namespace the objects are applied to; an empty one is rejected by the API server, so
		// it is left to the pod's own namespace only when the spec names none.
		binding.Subjects[0].Namespace = "default"
	}
	job := shrinkJob(c)
	job.ObjectMeta = hook(job.ObjectMeta, "-1")
	return []Object{sa, role, binding, job}
}

// ShrinkJobName is the Job's name: the target plus a hash of the Job's template, so a new target
// or a changed template (e.g. a new function image) creates a new Job instead of an update the API
// server refuses (a Job's template is immutable), while an unchanged render re-applies as a no-op.
func ShrinkJobName(c *model.Cluster) string {
	return shrinkJob(c).Name
}

func shrinkJob(c *model.Cluster) *batchv1.Job {
	target := c.VoterCount()
	labels := c.Labels(model.ComponentShrink)
	podLabels := c.Labels(model.ComponentShrink)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
		Spec: corev1.PodSpec{
			ServiceAccountName:           c.ShrinkRBAC(),
			AutomountServiceAccountToken: ptr(true),
			EnableServiceLinks:           ptr(false),
			RestartPolicy:                corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr(true),
				RunAsUser:    ptr(int64(65532)),
				RunAsGroup:   ptr(int64(65532)),
				// Secret files are group-readable only (0440); fsGroup makes the Job's group own them.
				FSGroup:        ptr(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			ImagePullSecrets: c.Spec.Spec.ImagePullSecrets,
			Volumes:          shrinkVolumes(c),
			Containers: []corev1.Container{{
				Name:            model.ComponentShrink,
				Image:           c.Spec.Spec.Shrink.Image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            ShrinkArgs(c),
				Env:             shrinkEnv(c),
				VolumeMounts:    shrinkMounts(c),
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:              resource.MustParse("50m"),
						corev1.ResourceMemory:           resource.MustParse("32Mi"),
						corev1.ResourceEphemeralStorage: resource.MustParse("1Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceMemory:           resource.MustParse("128Mi"),
						corev1.ResourceEphemeralStorage: resource.MustParse("16Mi"),
					},
				},
				SecurityContext:          restrictedContainer(),
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta(c, "", model.ComponentShrink),
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr(int32(shrinkBackoff)),
			ActiveDeadlineSeconds:   ptr(int64(shrinkDeadline)),
			TTLSecondsAfterFinished: ptr(int32(shrinkTTLSeconds)),
			Template:                tmpl,
		},
	}
	job.Labels = labels
	b, err := json.Marshal(job.Spec)
	if err != nil {
		panic(fmt.Sprintf("a Job spec always encodes: %v", err))
	}
	sum := sha256.Sum256(b)
	job.Name = fmt.Sprintf("%s-%s", c.ShrinkJob(target), hex.EncodeToString(sum[:])[:8])
	return job
}

// ShrinkArgs are the Job's arguments to `rqlite-fn shrink`: everything it needs to find the
// cluster from inside the namespace.
func ShrinkArgs(c *model.Cluster) []string {
	args := []string{
		"shrink",
		"--namespace=$(" + model.EnvPodNamespace + ")",
		"--statefulset=" + c.Voters.StatefulSet,
		fmt.Sprintf("--target=%d", c.VoterCount()),
		fmt.Sprintf("--rqlite-url=%s://%s:%d", c.HTTPScheme(), c.Voters.Client, c.Layout.ServicePort),
		fmt.Sprintf("--headless=%s", c.Voters.Headless),
		"--job-name=$(" + envJobName + ")",
	}
	if t := c.Spec.Spec.TLS; t != nil && t.Client != nil {
		args = append(args, "--ca-file="+c.Layout.ClientTLSMount()+"/ca.crt")
		if t.Client.VerifyClient {
			args = append(args, "--cert-file="+c.Layout.ClientTLSMount()+"/tls.crt", "--key-file="+c.Layout.ClientTLSMount()+"/tls.key")
		}
	}
	if a := c.Spec.Spec.Auth; a != nil && a.ShrinkUser != nil {
		args = append(args, "--username="+a.ShrinkUser.Username)
	}
	return args
}

// EnvShrinkPassword carries the shrink user's password from its Secret: a reference in the pod
// spec, never the value.
const EnvShrinkPassword = "RQLITE_PASSWORD"

// envJobName carries the Job's name, which the Job controller puts on its pods as a label.
const envJobName = "JOB_NAME"

func shrinkEnv(c *model.Cluster) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: model.EnvPodNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: envJobName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
	}
	if a := c.Spec.Spec.Auth; a != nil && a.ShrinkUser != nil {
		env = append(env, secretEnv(EnvShrinkPassword, a.ShrinkUser.PasswordSecret))
	}
	return env
}

func shrinkVolumes(c *model.Cluster) []corev1.Volume {
	t := c.Spec.Spec.TLS
	if t == nil || t.Client == nil {
		return nil
	}
	items := []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}
	if t.Client.VerifyClient {
		items = tlsItems()
	}
	return []corev1.Volume{secretVolume(model.ClientTLSVolume, t.Client.SecretName, items...)}
}

func shrinkMounts(c *model.Cluster) []corev1.VolumeMount {
	if len(shrinkVolumes(c)) == 0 {
		return nil
	}
	return []corev1.VolumeMount{{Name: model.ClientTLSVolume, MountPath: c.Layout.ClientTLSMount(), ReadOnly: true}}
}
