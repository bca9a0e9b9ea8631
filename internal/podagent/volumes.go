package podagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Agent as envSources: the kubelet reads ConfigMaps and Secrets through a watch-based cache too.
func (a *Agent) configMap(ns, name string) (*corev1.ConfigMap, error) {
	c, ok := a.cms[ns]
	if !ok {
		return nil, fmt.Errorf("namespace %s is not watched by the pod agent", ns)
	}
	cm, _ := c.get(ns, name)
	return cm, nil
}

func (a *Agent) secret(ns, name string) (*corev1.Secret, error) {
	c, ok := a.secrets[ns]
	if !ok {
		return nil, fmt.Errorf("namespace %s is not watched by the pod agent", ns)
	}
	s, _ := c.get(ns, name)
	return s, nil
}

type projFile struct {
	data []byte
	mode fs.FileMode
}

type cachedToken struct {
	token   string
	refresh time.Time
}

// volumeLoop keeps projected content (ConfigMaps, Secrets, downward API, service-account
// tokens) up to date while the pod runs, as the kubelet's periodic pod sync does.
func (w *podWorker) volumeLoop(ctx context.Context) {
	tick := time.NewTicker(w.a.opts.VolumeSyncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := w.syncVolumes(ctx); err != nil && ctx.Err() == nil {
			w.logf("volume refresh: %v", err)
		}
	}
}

// syncVolumes prepares every volume of the pod (the first call) or refreshes the projected
// ones (later calls). An error means something the pod needs is missing; the kubelet keeps
// the pod in ContainerCreating and retries.
func (w *podWorker) syncVolumes(ctx context.Context) error {
	pod := w.podForEnv()
	var fsGroup *int64
	policy := corev1.FSGroupChangeAlways
	if psc := pod.Spec.SecurityContext; psc != nil {
		fsGroup = psc.FSGroup
		if psc.FSGroupChangePolicy != nil {
			policy = *psc.FSGroupChangePolicy
		}
	}
	var errs []error
	for _, v := range pod.Spec.Volumes {
		w.mu.Lock()
		_, known := w.volumes[v.Name]
		w.mu.Unlock()
		dir := filepath.Join(w.dir, "volumes", v.Name)
		ro := false
		var files map[string]projFile
		var mode int32 = 0o644
		var err error
		switch {
		case v.EmptyDir != nil:
			if known {
				continue
			}
			// The kubelet creates emptyDirs world-writable; medium Memory is a plain directory here.
			if err = os.MkdirAll(dir, 0o777); err == nil {
				err = os.Chmod(dir, 0o777)
			}
			if err == nil && fsGroup != nil {
				err = applyFSGroup(dir, *fsGroup, policy)
			}
		case v.PersistentVolumeClaim != nil:
			if known {
				continue
			}
			dir, err = w.claimDir(ctx, pod, v.PersistentVolumeClaim.ClaimName)
			ro = v.PersistentVolumeClaim.ReadOnly
			if err == nil && fsGroup != nil && !ro {
				err = applyFSGroup(dir, *fsGroup, policy)
			}
		case v.HostPath != nil:
			if known {
				continue
			}
			dir = v.HostPath.Path
			if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.ConfigMap != nil:
			ro = true
			if v.ConfigMap.DefaultMode != nil {
				mode = *v.ConfigMap.DefaultMode
			}
			files, err = w.configMapFiles(pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode)
		case v.Secret != nil:
			ro = true
			if v.Secret.DefaultMode != nil {
				mode = *v.Secret.DefaultMode
			}
			files, err = w.secretFiles(pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode)
		case v.DownwardAPI != nil:
			ro = true
			if v.DownwardAPI.DefaultMode != nil {
				mode = *v.DownwardAPI.DefaultMode
			}
			files, err = downwardFiles(pod, v.DownwardAPI.Items, mode, w.a.nodeAllocatable())
		case v.Projected != nil:
			ro = true
			if v.Projected.DefaultMode != nil {
				mode = *v.Projected.DefaultMode
			}
			files, err = w.projectedFiles(ctx, pod, v.Name, v.Projected, mode)
		default:
			err = errors.New("volume type not supported by podagent")
		}
		if err == nil && files != nil {
			err = atomicWrite(dir, files, fsGroup)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
			continue
		}
		w.mu.Lock()
		w.volumes[v.Name] = dir
		w.roVolumes[v.Name] = ro
		w.mu.Unlock()
	}
	return errors.Join(errs...)
}

// claimDir waits for the claim to be bound (the scheduler binds no pod before) and returns the
// PersistentVolume's local path.
func (w *podWorker) claimDir(ctx context.Context, pod *corev1.Pod, claim string) (string, error) {
	pvc, ok := w.a.pvcs[pod.Namespace].get(pod.Namespace, claim)
	if !ok {
		return "", fmt.Errorf("persistentvolumeclaim %q not found", claim)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	w.mu.Lock()
	p, ok := w.pvPaths[pvc.Spec.VolumeName]
	w.mu.Unlock()
	if ok {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pv, err := w.a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.Local != nil:
		p = pv.Spec.Local.Path
	case pv.Spec.HostPath != nil:
		p = pv.Spec.HostPath.Path
	default:
		return "", fmt.Errorf("persistentvolume %s is neither local nor hostPath", pv.Name)
	}
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	w.mu.Lock()
	w.pvPaths[pvc.Spec.VolumeName] = p
	w.mu.Unlock()
	return p, nil
}

func itemsFiles(data map[string][]byte, items []corev1.KeyToPath, optional bool, mode int32, what string) (map[string]projFile, error) {
	out := map[string]projFile{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = projFile{data: v, mode: fs.FileMode(mode)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s references non-existent key: %s", what, it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out[it.Path] = projFile{data: v, mode: fs.FileMode(m)}
	}
	return out, nil
}

func (w *podWorker) configMapFiles(ns, name string, items []corev1.KeyToPath, opt *bool, mode int32) (map[string]projFile, error) {
	cm, err := w.a.configMap(ns, name)
	if err != nil {
		return nil, err
	}
	if cm == nil {
		if optional(opt) {
			return map[string]projFile{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return itemsFiles(data, items, optional(opt), mode, "configmap "+name)
}

func (w *podWorker) secretFiles(ns, name string, items []corev1.KeyToPath, opt *bool, mode int32) (map[string]projFile, error) {
	s, err := w.a.secret(ns, name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if optional(opt) {
			return map[string]projFile{}, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return itemsFiles(s.Data, items, optional(opt), mode, "secret "+name)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode int32, alloc corev1.ResourceList) (map[string]projFile, error) {
	out := map[string]projFile{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := containerByName(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("resourceFieldRef: no container %q", it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceField(pod, c, it.ResourceFieldRef, alloc)
		}
		if err != nil {
			return nil, err
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out[it.Path] = projFile{data: []byte(v), mode: fs.FileMode(m)}
	}
	return out, nil
}

func containerByName(pod *corev1.Pod, name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

// projectedFiles covers what the ServiceAccount admission plugin injects for an automounted
// token (kube-api-access-*: a bound token from the TokenRequest API, the kube-root-ca.crt
// ConfigMap the controller manager publishes, the namespace from the downward API) and any
// other mix of those sources.
func (w *podWorker) projectedFiles(ctx context.Context, pod *corev1.Pod, vol string, p *corev1.ProjectedVolumeSource, mode int32) (map[string]projFile, error) {
	out := map[string]projFile{}
	add := func(files map[string]projFile) {
		for k, v := range files {
			out[k] = v
		}
	}
	for i, src := range p.Sources {
		switch {
		case src.ConfigMap != nil:
			files, err := w.configMapFiles(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, mode)
			if err != nil {
				return nil, err
			}
			add(files)
		case src.Secret != nil:
			files, err := w.secretFiles(pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, mode)
			if err != nil {
				return nil, err
			}
			add(files)
		case src.DownwardAPI != nil:
			files, err := downwardFiles(pod, src.DownwardAPI.Items, mode, w.a.nodeAllocatable())
			if err != nil {
				return nil, err
			}
			add(files)
		case src.ServiceAccountToken != nil:
			tok, err := w.token(ctx, pod, fmt.Sprintf("%s/%d", vol, i), src.ServiceAccountToken)
			if err != nil {
				return nil, err
			}
			out[src.ServiceAccountToken.Path] = projFile{data: []byte(tok), mode: fs.FileMode(mode)}
		default:
			return nil, errors.New("projected source not supported by podagent")
		}
	}
	return out, nil
}

// token asks the TokenRequest API for a token bound to this pod, as the kubelet does, and
// renews it after 80 % of its lifetime.
func (w *podWorker) token(ctx context.Context, pod *corev1.Pod, key string, src *corev1.ServiceAccountTokenProjection) (string, error) {
	w.mu.Lock()
	c, ok := w.tokens[key]
	w.mu.Unlock()
	if ok && time.Now().Before(c.refresh) {
		return c.token, nil
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	var aud []string
	if src.Audience != "" {
		aud = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tr, err := w.a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         aud,
			ExpirationSeconds: &exp,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s: %w", sa, err)
	}
	life := time.Until(tr.Status.ExpirationTimestamp.Time)
	w.mu.Lock()
	w.tokens[key] = cachedToken{token: tr.Status.Token, refresh: time.Now().Add(life * 8 / 10)}
	w.mu.Unlock()
	return tr.Status.Token, nil
}

// atomicWrite publishes files into dir the way the kubelet's atomic writer does: the content
// lives in a timestamped directory, "..data" points at the current one, and every top-level
// name is a symlink through "..data". An update swaps "..data" with one rename, so a reader
// never sees a mix of old and new files. Nothing is written when the content is unchanged.
func atomicWrite(dir string, files map[string]projFile, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if same(filepath.Join(dir, "..data"), files) {
		return nil
	}
	ts := fmt.Sprintf("..%s.%08d", time.Now().Format("2006_01_02_15_04_05"), rand.IntN(1e8))
	tsDir := filepath.Join(dir, ts)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode.Perm()); err != nil {
			return err
		}
	}
	if fsGroup != nil {
		err := filepath.WalkDir(tsDir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, -1, int(*fsGroup))
		})
		if err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	top := map[string]bool{}
	for p := range files {
		first, _, _ := strings.Cut(filepath.ToSlash(filepath.Clean(p)), "/")
		top[first] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "..data" || name == ts:
		case strings.HasPrefix(name, ".."):
			_ = os.RemoveAll(filepath.Join(dir, name))
		case !top[name] && e.Type()&fs.ModeSymlink != 0:
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

// same reports whether the published content (through ..data) equals files.
func same(dataLink string, files map[string]projFile) bool {
	target, err := os.Readlink(dataLink)
	if err != nil {
		return false
	}
	root := filepath.Join(filepath.Dir(dataLink), target)
	n := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f, ok := files[rel]
		if !ok {
			return errors.New("extra file")
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, f.data) || info.Mode().Perm() != f.mode.Perm() {
			return errors.New("changed")
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

func statGID(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Gid), true
}

// applyFSGroup does what the kubelet does for volumes that support ownership management:
// group-own everything by fsGroup, make it group read-write (directories also group-executable
// and setgid, so new files inherit the group). With OnRootMismatch it skips volumes whose root
// already has the right group and permissions, which is what makes restarts cheap.
func applyFSGroup(dir string, gid int64, policy corev1.PodFSGroupChangePolicy) error {
	if policy == corev1.FSGroupChangeOnRootMismatch {
		if fi, err := os.Stat(dir); err == nil {
			if st, ok := statGID(fi); ok && st == int(gid) && fi.Mode()&fs.ModeSetgid != 0 && fi.Mode().Perm()&0o070 == 0o070 {
				return nil
			}
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(p, -1, int(gid)); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o660
		if d.IsDir() {
			mode |= 0o110 | fs.ModeSetgid
		}
		return os.Chmod(p, mode)
	})
}
