// Package fakekubelet does, for one container of a rendered pod template, what the kubelet does
// before it starts the process, so that tests can run the container's program as a local process
// with the files and environment the render gives it.
package fakekubelet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// Kubelet does, for one container of a rendered pod template, what the kubelet does before it
// starts the process: it resolves the env (downward API, Secret and ConfigMap keys), expands
// $(VAR) references in the args, and lays out the Secret, ConfigMap, emptyDir and PVC volumes at
// their mount paths, under a per-pod directory standing in for the container's root filesystem.
// Container paths in the args are then rewritten to that directory. A missing Secret, key or
// volume, or an argument path outside every volume, fails the test as it would keep the pod from
// starting or rqlited from finding its file: the point is that flags, volumes, items and keys of
// the render line up.
type Kubelet struct {
	Dir        string                       // holds one directory per pod
	Namespace  string                       // the pods' namespace (downward API)
	Secrets    map[string]map[string][]byte // what the user (or cert-manager) created
	ConfigMaps map[string]map[string]string // what the render created
}

// Container is a container ready to be started as a local process.
type Container struct {
	Root   string   // stands in for "/" of the container; mount paths live under it
	Args   []string // expanded, with container paths rewritten under Root
	Env    []string // K=V in declaration order, container paths rewritten; TMPDIR added (see Prepare)
	Mounts []Mount
}

// Mount is one volume mount of the container.
type Mount struct {
	Path    string // in the container
	Volume  string // the pod's volume name
	SubPath string
	// Kind is "pvc", "secret", "configMap" or "emptyDir"; SizeLimit is the emptyDir's, if any.
	Kind      string
	SizeLimit string
}

// MountFor returns the mount that holds the container path p.
func (c Container) MountFor(p string) (Mount, bool) {
	best := -1
	for i, m := range c.Mounts {
		if (p == m.Path || strings.HasPrefix(p, m.Path+"/")) && (best < 0 || len(m.Path) > len(c.Mounts[best].Path)) {
			best = i
		}
	}
	if best < 0 {
		return Mount{}, false
	}
	return c.Mounts[best], true
}

// Prepare lays out pod podName's volumes for container containerName and returns its args and
// env. claims are the StatefulSet's volumeClaimTemplates (each an empty directory that survives
// further Prepare calls for the same pod, like a PVC). Volumes live under <Dir>/<pod>/volumes and
// are symlinked at their mount paths, so a volume may be mounted several times (subPath).
//
// The container's temporary directory is where its TMPDIR points or, without one, its /tmp; the
// Env gets TMPDIR set to the host path of that directory so the process stages temporary files
// exactly where it would in the container.
func (k *Kubelet) Prepare(t testing.TB, podName string, tmpl *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim, containerName string) Container {
	t.Helper()
	c := containerNamed(t, &tmpl.Spec, containerName)
	require.Empty(t, c.EnvFrom, "the fake kubelet does not implement envFrom")
	root := filepath.Join(k.Dir, podName, "root")
	volumes := filepath.Join(k.Dir, podName, "volumes")
	require.NoError(t, os.MkdirAll(root, 0o755))

	var mounts []Mount
	for _, m := range c.VolumeMounts {
		mount := Mount{Path: m.MountPath, Volume: m.Name, SubPath: m.SubPath}
		volDir := filepath.Join(volumes, m.Name)
		require.NoError(t, os.MkdirAll(volDir, 0o755))
		if slices.ContainsFunc(claims, func(pvc corev1.PersistentVolumeClaim) bool { return pvc.Name == m.Name }) {
			mount.Kind = "pvc"
		} else {
			vol := volume(t, &tmpl.Spec, m.Name)
			switch {
			case vol.Secret != nil:
				mount.Kind = "secret"
				s := vol.Secret
				data := k.secret(t, s.SecretName)
				k.writeItems(t, volDir, s.Items, s.DefaultMode, func(key string) []byte {
					v, ok := data[key]
					require.True(t, ok, "Secret %s has no key %q: the pod would not start", s.SecretName, key)
					return v
				}, keysOf(data))
			case vol.ConfigMap != nil:
				mount.Kind = "configMap"
				cm := vol.ConfigMap
				data := k.configMapData(t, cm.Name)
				k.writeItems(t, volDir, cm.Items, cm.DefaultMode, func(key string) []byte {
					v, ok := data[key]
					require.True(t, ok, "ConfigMap %s has no key %q: the pod would not start", cm.Name, key)
					return []byte(v)
				}, keysOf(data))
			case vol.EmptyDir != nil:
				mount.Kind = "emptyDir"
				if vol.EmptyDir.SizeLimit != nil {
					mount.SizeLimit = vol.EmptyDir.SizeLimit.String()
				}
			default:
				t.Fatalf("volume %s: kind not implemented by the fake kubelet", m.Name)
			}
		}
		// The kubelet creates a missing subPath directory.
		target := filepath.Join(volDir, m.SubPath)
		require.NoError(t, os.MkdirAll(target, 0o755))
		link := filepath.Join(root, m.MountPath)
		require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
		if _, err := os.Lstat(link); err == nil {
			require.NoError(t, os.Remove(link))
		}
		require.NoError(t, os.Symlink(target, link))
		mounts = append(mounts, mount)
	}
	prepared := Container{Root: root, Mounts: mounts}
	// toHost rewrites a container path under a mount; ok is false for other paths.
	toHost := func(p string) (string, bool) {
		if _, ok := prepared.MountFor(p); ok {
			return root + p, true
		}
		return p, false
	}

	env := map[string]string{}
	for _, e := range c.Env {
		v := expandK8s(e.Value, env)
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name":
				v = podName
			case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.namespace":
				v = k.Namespace
			case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.labels['batch.kubernetes.io/job-name']":
				// The Job controller labels a Job's pods with the Job's name.
				v = podName
			case f.SecretKeyRef != nil:
				v = string(k.secretKey(t, f.SecretKeyRef.Name, f.SecretKeyRef.Key))
			case f.ConfigMapKeyRef != nil:
				v = k.configMapKey(t, f.ConfigMapKeyRef.Name, f.ConfigMapKeyRef.Key)
			default:
				t.Fatalf("env %s: valueFrom %+v not implemented by the fake kubelet", e.Name, f)
			}
		}
		// $(VAR) expansion sees container values; the process gets host paths.
		env[e.Name] = v
		if h, ok := toHost(v); ok && strings.HasPrefix(v, "/") {
			v = h
		}
		prepared.Env = append(prepared.Env, e.Name+"="+v)
	}
	if _, ok := env["TMPDIR"]; !ok {
		// Without a volume at /tmp the path stays missing here: the container's root filesystem
		// is read-only, so creating a temporary file must fail in both places.
		prepared.Env = append(prepared.Env, "TMPDIR="+root+"/tmp")
	}

	for _, a := range c.Args {
		a = expandK8s(a, env)
		flagName, value, isFlag := strings.Cut(a, "=")
		if !isFlag || !strings.HasPrefix(a, "-") {
			flagName, value = "", a
		}
		if strings.HasPrefix(value, "/") {
			h, ok := toHost(value)
			require.True(t, ok, "argument %q names %s, which is in no volume of the pod: the process would not find it", a, value)
			if flagName != "" {
				a = flagName + "=" + h
			} else {
				a = h
			}
		}
		prepared.Args = append(prepared.Args, a)
	}
	return prepared
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (k *Kubelet) writeItems(t testing.TB, dir string, items []corev1.KeyToPath, defaultMode *int32, get func(string) []byte, allKeys []string) {
	t.Helper()
	if len(items) == 0 {
		for _, key := range allKeys {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	for _, it := range items {
		mode := os.FileMode(0o644)
		if defaultMode != nil {
			mode = os.FileMode(*defaultMode)
		}
		if it.Mode != nil {
			mode = os.FileMode(*it.Mode)
		}
		p := filepath.Join(dir, it.Path)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, get(it.Key), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
}

func (k *Kubelet) secret(t testing.TB, name string) map[string][]byte {
	t.Helper()
	s, ok := k.Secrets[name]
	require.True(t, ok, "no Secret %q: the pod would not start (the render expects the user to create it)", name)
	return s
}

func (k *Kubelet) secretKey(t testing.TB, name, key string) []byte {
	t.Helper()
	v, ok := k.secret(t, name)[key]
	require.True(t, ok, "Secret %s has no key %q: the pod would not start", name, key)
	return v
}

func (k *Kubelet) configMapData(t testing.TB, name string) map[string]string {
	t.Helper()
	d, ok := k.ConfigMaps[name]
	require.True(t, ok, "no ConfigMap %q", name)
	return d
}

func (k *Kubelet) configMapKey(t testing.TB, name, key string) string {
	t.Helper()
	v, ok := k.configMapData(t, name)[key]
	require.True(t, ok, "ConfigMap %s has no key %q", name, key)
	return v
}

func volume(t testing.TB, pod *corev1.PodSpec, name string) *corev1.Volume {
	t.Helper()
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	t.Fatalf("pod mounts volume %q but declares none of that name", name)
	return nil
}

// expandK8s expands $(VAR) the way the kubelet expands args and env values: defined variables are
// replaced, undefined references stay as written, and $$ is a literal $.
func expandK8s(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func containerNamed(t testing.TB, pod *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	t.Fatalf("pod has no container %q", name)
	return nil
}
