package podagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Options configures Start.
type Options struct {
	// Namespaces whose Pods the agent schedules and runs (at least one). Pod names given to the
	// Agent's methods refer to the first one unless written "namespace/name". DNS answers for
	// Services of every namespace.
	Namespaces []string

	// Binaries maps what a container would run to a local executable, added to (and overriding)
	// DefaultBinaries. A key starting with "/" is a container command (command[0], e.g.
	// "/bin/rqlited"); any other key is an image pattern in path.Match syntax
	// ("ghcr.io/rqlite/rqlite-krm:*") standing for the image's entrypoint, used for containers
	// without a command. A container matching neither fails with CreateContainerError.
	Binaries map[string]string

	// NodeName of the Node the agent registers; default "podagent-<a>-<b>" after its address
	// block 127.a.b.0/24.
	NodeName string

	// ClusterDomain for DNS and resolv.conf search paths; default "cluster.local".
	ClusterDomain string

	// RestartBackoff is the delay before the second restart of a crashed container (the first
	// restart is immediate, as with the kubelet); it doubles up to MaxRestartBackoff. Defaults
	// 1 s and 10 s, where the kubelet uses 10 s and 5 min: tests cannot wait minutes.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration

	// VolumeSyncPeriod is how often ConfigMap, Secret, projected and downward API volumes are
	// brought up to date with the API (the kubelet takes up to about a minute). Default 2 s.
	VolumeSyncPeriod time.Duration

	// Root is where the agent keeps volumes, logs and per-pod files; default a new directory
	// under /var/tmp. It must not lie below a path that pods mount over (such as /tmp), since
	// executables are linked there and must stay visible inside every container.
	Root string
}

// DefaultBinaries maps the commands the rendered manifests run: rqlited (the pinned tool from
// hack/install-tools.sh) and /bin/sh.
func DefaultBinaries() (map[string]string, error) {
	rqlited, err := testenv.LookupTool("rqlited")
	if err != nil {
		return nil, err
	}
	return map[string]string{"/bin/rqlited": rqlited, "/bin/sh": "/bin/sh"}, nil
}

// Agent plays kube-scheduler and kubelet for one Node. See the package documentation.
type Agent struct {
	t          testing.TB
	cp         *testenv.ControlPlane
	client     kubernetes.Interface
	opts       Options
	root       string
	node       string
	ipam       *ipam
	dns        *clusterDNS
	apiHost    string // host:port of the API server
	sandboxBin string
	bins       map[string]string
	logFile    *os.File
	logMu      sync.Mutex

	binMu  sync.Mutex
	linked map[string]string // local executable -> its link under root/bin

	ctx      context.Context
	cancel   context.CancelFunc
	pods     map[string]*watchCache[*corev1.Pod]
	cms      map[string]*watchCache[*corev1.ConfigMap]
	secrets  map[string]*watchCache[*corev1.Secret]
	pvcs     map[string]*watchCache[*corev1.PersistentVolumeClaim]
	services *watchCache[*corev1.Service]
	slices   *watchCache[*discoveryv1.EndpointSlice]

	kubelet   record.EventRecorder
	scheduler record.EventRecorder
	events    record.EventBroadcaster

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	byName   map[string]*podWorker // "ns/name" -> latest incarnation, kept after it ends (logs)
	finished map[types.UID]bool
	toBind   map[string]bool
	bindKick chan struct{}
	pvs      map[string]bool // names of PersistentVolumes the agent created
	stopping bool

	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Start registers a Node and runs every Pod of opts.Namespaces that is (or can be) bound to it,
// until the test ends. It fails the test when it cannot start; it never skips.
func Start(t testing.TB, cp *testenv.ControlPlane, opts Options) *Agent {
	t.Helper()
	a, err := start(t, cp, opts)
	if err != nil {
		t.Fatalf("podagent: %v", err)
	}
	t.Cleanup(a.stop)
	return a
}

func start(t testing.TB, cp *testenv.ControlPlane, opts Options) (_ *Agent, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the pod agent needs root (mount namespaces, port 53, running containers as their uid)")
	}
	if !cp.HasControllerManager() {
		return nil, errors.New("the pod agent needs a control plane with kube-controller-manager (EndpointSlices, PV binding, StatefulSets, Jobs)")
	}
	if len(opts.Namespaces) == 0 {
		return nil, errors.New("Options.Namespaces is empty")
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if opts.MaxRestartBackoff < opts.RestartBackoff {
		opts.MaxRestartBackoff = max(10*time.Second, opts.RestartBackoff)
	}
	if opts.VolumeSyncPeriod <= 0 {
		opts.VolumeSyncPeriod = 2 * time.Second
	}
	bins, err := DefaultBinaries()
	if err != nil {
		return nil, err
	}
	for k, v := range opts.Binaries {
		bins[k] = v
	}
	u, err := url.Parse(cp.Host())
	if err != nil {
		return nil, err
	}
	a := &Agent{
		t: t, cp: cp, client: cp.Client(), opts: opts, bins: bins, apiHost: u.Host,
		linked:   map[string]string{},
		pods:     map[string]*watchCache[*corev1.Pod]{},
		cms:      map[string]*watchCache[*corev1.ConfigMap]{},
		secrets:  map[string]*watchCache[*corev1.Secret]{},
		pvcs:     map[string]*watchCache[*corev1.PersistentVolumeClaim]{},
		workers:  map[types.UID]*podWorker{},
		byName:   map[string]*podWorker{},
		finished: map[types.UID]bool{},
		toBind:   map[string]bool{},
		bindKick: make(chan struct{}, 1),
		pvs:      map[string]bool{},
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			a.stop()
		}
	}()
	if a.ipam, err = newIPAM([]int{4001, 4002}); err != nil {
		return nil, err
	}
	a.node = opts.NodeName
	if a.node == "" {
		a.node = fmt.Sprintf("podagent-%d-%d", a.ipam.block[0], a.ipam.block[1])
	}
	if err := a.makeRoot(); err != nil {
		return nil, err
	}
	if a.sandboxBin, err = buildSandbox(filepath.Join(a.root, "bin")); err != nil {
		return nil, err
	}
	a.events = record.NewBroadcaster(record.WithContext(a.ctx))
	a.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	a.kubelet = a.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.node})
	a.scheduler = a.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "default-scheduler"})

	if err := a.registerNode(); err != nil {
		return nil, err
	}
	a.services = serviceCache(a.client, a.logf)
	a.slices = sliceCache(a.client, a.logf)
	first := []*syncedRun{{a.services.synced, a.services.run}, {a.slices.synced, a.slices.run}}
	var podRuns []*syncedRun
	for _, ns := range opts.Namespaces {
		pods := podCache(a.client, ns, handlers[*corev1.Pod]{
			add:    a.onPod,
			update: func(_, p *corev1.Pod) { a.onPod(p) },
			del:    a.onPodDelete,
		}, a.logf)
		pvcs := pvcCache(a.client, ns, handlers[*corev1.PersistentVolumeClaim]{
			add:    a.onPVC,
			update: func(_, p *corev1.PersistentVolumeClaim) { a.onPVC(p) },
			del:    a.onPVCDelete,
		}, a.logf)
		cms, secrets := configMapCache(a.client, ns, a.logf), secretCache(a.client, ns, a.logf)
		a.pods[ns], a.pvcs[ns], a.cms[ns], a.secrets[ns] = pods, pvcs, cms, secrets
		first = append(first, &syncedRun{cms.synced, cms.run}, &syncedRun{secrets.synced, secrets.run}, &syncedRun{pvcs.synced, pvcs.run})
		podRuns = append(podRuns, &syncedRun{pods.synced, pods.run})
	}
	// Pods come last, once DNS answers and what their volumes and environment refer to is
	// known: a kubelet also waits for its caches before it starts pods.
	if err := a.runSynced(first); err != nil {
		return nil, err
	}
	dnsAddr := net.JoinHostPort(a.ipam.nodeIP(), "53")
	if a.dns, err = startDNS(dnsAddr, opts.ClusterDomain, a.services, a.slices); err != nil {
		return nil, fmt.Errorf("DNS server on %s: %w", dnsAddr, err)
	}
	if err := a.runSynced(podRuns); err != nil {
		return nil, err
	}
	a.wg.Add(2)
	go a.heartbeat()
	go a.bindLoop()
	a.logf("agent up: node %s, pods in 127.%d.%d.0/24, DNS %s, root %s", a.node, a.ipam.block[0], a.ipam.block[1], dnsAddr, a.root)
	return a, nil
}

type syncedRun struct {
	synced chan struct{}
	run    func(context.Context)
}

func (a *Agent) runSynced(runs []*syncedRun) error {
	for _, r := range runs {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			r.run(a.ctx)
		}()
	}
	ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	for _, r := range runs {
		select {
		case <-r.synced:
		case <-ctx.Done():
			return errors.New("watch caches did not sync within a minute")
		}
	}
	return nil
}

func (a *Agent) makeRoot() error {
	a.root = a.opts.Root
	if a.root == "" {
		base := "/var/tmp"
		if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
			base = ""
		}
		dir, err := os.MkdirTemp(base, "podagent-")
		if err != nil {
			return err
		}
		a.root = dir
	}
	// Containers run as their pods' users and must reach the executables linked under root.
	for _, d := range []string{a.root, filepath.Join(a.root, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"pods", "pvc", "logs"} {
		if err := os.MkdirAll(filepath.Join(a.root, d), 0o711); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(a.root, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	a.logFile = f
	return nil
}

// buildSandbox compiles the helper that sets up a container's namespaces (package sandbox).
func buildSandbox(dir string) (string, error) {
	root, err := testenv.RepoRootDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "podagent-sandbox")
	cmd := exec.Command(testenv.GoTool(), "build", "-o", out, "./internal/podagent/sandbox")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the sandbox helper: %v\n%s", err, b)
	}
	return out, nil
}

func (a *Agent) logf(format string, args ...any) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	if a.logFile != nil {
		fmt.Fprintf(a.logFile, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// registerNode creates the Node, Ready, with the labels a kubelet sets.
func (a *Agent) registerNode() error {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.node, Labels: map[string]string{
			corev1.LabelHostname:   a.node,
			corev1.LabelOSStable:   runtime.GOOS,
			corev1.LabelArchStable: runtime.GOARCH,
		}},
	}
	created, err := a.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", a.node, err)
	}
	// The node lifecycle controller taints a new Node at once, so the first status update
	// often races with it.
	for {
		created.Status = a.nodeStatus()
		_, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("node %s status: %w", a.node, err)
		}
		if created, err = a.client.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("node %s: %w", a.node, err)
		}
	}
	// The API server creates kube-node-lease a moment after it turns ready; the heartbeat
	// retries, and the node lifecycle controller allows far more than that.
	if err := a.renewLease(ctx); err != nil {
		a.logf("lease: %v (retrying)", err)
	}
	return nil
}

func (a *Agent) nodeStatus() corev1.NodeStatus {
	t := now()
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             resource.MustParse("250"),
	}
	return corev1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "podagent"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "podagent"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "podagent"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "podagent is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.ipam.nodeIP()},
			{Type: corev1.NodeHostName, Address: a.node},
		},
		NodeInfo: corev1.NodeSystemInfo{
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			KubeletVersion:          "v1.37.1",
			ContainerRuntimeVersion: "podagent://1",
		},
	}
}

func (a *Agent) nodeAllocatable() corev1.ResourceList { return a.nodeStatus().Allocatable }

// renewLease is the kubelet's heartbeat: the node lifecycle controller marks a node whose lease
// is not renewed within its grace period NotReady, and then its pods not ready.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	t := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, a.node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		holder, dur := a.node, int32(40)
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.node, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &t},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &t
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

func (a *Agent) heartbeat() {
	defer a.wg.Done()
	next := time.Second
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(next):
		}
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
		err := a.renewLease(ctx)
		cancel()
		next = 10 * time.Second
		if err != nil && a.ctx.Err() == nil {
			a.logf("lease renewal: %v", err)
			next = time.Second
		}
	}
}

// --- scheduling -----------------------------------------------------------------------------

func (a *Agent) onPod(pod *corev1.Pod) {
	key := pod.Namespace + "/" + pod.Name
	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp == nil && !podTerminal(pod) {
			a.mu.Lock()
			a.toBind[key] = true
			a.mu.Unlock()
			select {
			case a.bindKick <- struct{}{}:
			default:
			}
		}
		return
	}
	if pod.Spec.NodeName != a.node {
		return
	}
	a.mu.Lock()
	if a.stopping || a.finished[pod.UID] {
		a.mu.Unlock()
		return
	}
	w := a.workers[pod.UID]
	if w == nil {
		w = newPodWorker(a, pod)
		a.workers[pod.UID] = w
		a.byName[key] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run()
			a.mu.Lock()
			delete(a.workers, w.uid)
			a.finished[w.uid] = true
			a.mu.Unlock()
		}()
	}
	a.mu.Unlock()
	w.update(pod)
}

func (a *Agent) onPodDelete(pod *corev1.Pod) {
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w != nil {
		w.objectGone()
	}
}

func podTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// bindLoop is the scheduler: every pending Pod whose nodeSelector matches the Node and whose
// PersistentVolumeClaims are bound gets a Binding. Affinity, anti-affinity, topology spread,
// taints and resource requests are not evaluated: there is one Node, and the rendered
// constraints are all "preferred" or "ScheduleAnyway".
func (a *Agent) bindLoop() {
	defer a.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.bindKick:
		case <-tick.C:
		}
		a.mu.Lock()
		keys := make([]string, 0, len(a.toBind))
		for k := range a.toBind {
			keys = append(keys, k)
		}
		a.mu.Unlock()
		sort.Strings(keys)
		for _, k := range keys {
			if done := a.tryBind(k); done {
				a.mu.Lock()
				delete(a.toBind, k)
				a.mu.Unlock()
			}
		}
	}
}

func (a *Agent) tryBind(key string) (done bool) {
	ns, name, _ := strings.Cut(key, "/")
	pod, ok := a.pods[ns].get(ns, name)
	if !ok || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
		return true
	}
	if pod.Spec.SchedulerName != "" && pod.Spec.SchedulerName != corev1.DefaultSchedulerName {
		return true
	}
	for k, v := range pod.Spec.NodeSelector {
		if k == corev1.LabelHostname && v == a.node || k == corev1.LabelOSStable && v == runtime.GOOS || k == corev1.LabelArchStable && v == runtime.GOARCH {
			continue
		}
		return false
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, ok := a.pvcs[ns].get(ns, v.PersistentVolumeClaim.ClaimName)
		if !ok || pvc.Status.Phase != corev1.ClaimBound {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.node},
	}
	if err := a.client.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return true
		}
		a.logf("bind %s: %v", key, err)
		return false
	}
	a.scheduler.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s to %s", key, a.node)
	a.logf("bound %s to %s", key, a.node)
	return true
}

// --- storage ----------------------------------------------------------------------------------

const labelAgentNode = "podagent.rqlite.io/node"

// onPVC is a provisioner for every class: a pending claim gets a local PersistentVolume,
// pre-bound to it, backed by a directory of its own; the controller manager's PV controller then
// binds the two. The directory outlives Pods and is removed only with the claim.
func (a *Agent) onPVC(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	name := "pvc-" + string(pvc.UID)
	a.mu.Lock()
	if a.pvs[name] || a.stopping {
		a.mu.Unlock()
		return
	}
	a.pvs[name] = true
	a.mu.Unlock()
	dir := a.pvcDir(pvc)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	fs := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{labelAgentNode: a.node}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			VolumeMode:                    &fs,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{a.node}}},
			}}}},
		},
	}
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	if _, err := a.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
		a.mu.Lock()
		delete(a.pvs, name)
		a.mu.Unlock()
		return
	}
	a.logf("provisioned %s for %s/%s at %s", name, pvc.Namespace, pvc.Name, dir)
}

func (a *Agent) onPVCDelete(pvc *corev1.PersistentVolumeClaim) {
	name := "pvc-" + string(pvc.UID)
	a.mu.Lock()
	ours := a.pvs[name]
	delete(a.pvs, name)
	stopping := a.stopping
	a.mu.Unlock()
	if !ours || stopping {
		return
	}
	if err := os.RemoveAll(a.pvcDir(pvc)); err != nil {
		a.logf("removing data of %s/%s: %v", pvc.Namespace, pvc.Name, err)
	}
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	if err := a.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		a.logf("delete %s: %v", name, err)
	}
	a.logf("claim %s/%s deleted: removed %s and its data", pvc.Namespace, pvc.Name, name)
}

// pvcDir is keyed by the claim's UID: a claim deleted and created again under the same name
// starts empty, as with a real provisioner.
func (a *Agent) pvcDir(pvc *corev1.PersistentVolumeClaim) string {
	return filepath.Join(a.root, "pvc", pvc.Namespace, pvc.Name+"-"+string(pvc.UID))
}

// --- executables ------------------------------------------------------------------------------

// executable maps a container's command or image to a local program, linked under root/bin so
// that every container user can run it wherever the original lives.
func (a *Agent) executable(c *corev1.Container) (exe string, argv []string, err error) {
	var src string
	if len(c.Command) > 0 {
		cmd := c.Command[0]
		var ok bool
		if src, ok = a.bins[cmd]; !ok {
			return "", nil, fmt.Errorf("no local binary for command %q (podagent Options.Binaries)", cmd)
		}
		argv = append(append([]string{cmd}, c.Command[1:]...), c.Args...)
	} else {
		keys := make([]string, 0, len(a.bins))
		for k := range a.bins {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "/") {
				continue
			}
			if ok, _ := path.Match(k, c.Image); ok {
				src = a.bins[k]
				break
			}
		}
		if src == "" {
			return "", nil, fmt.Errorf("no local binary for image %q (podagent Options.Binaries)", c.Image)
		}
		argv = append([]string{src}, c.Args...)
	}
	exe, err = a.link(src)
	return exe, argv, err
}

func (a *Agent) link(src string) (string, error) {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(real, "/bin/") || strings.HasPrefix(real, "/usr/") {
		return real, nil // system binaries are world-executable where they are
	}
	a.binMu.Lock()
	defer a.binMu.Unlock()
	if l, ok := a.linked[real]; ok {
		return l, nil
	}
	dst := filepath.Join(a.root, "bin", fmt.Sprintf("%d-%s", len(a.linked), filepath.Base(real)))
	if err := os.Link(real, dst); err != nil {
		if err := copyFile(real, dst); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		return "", err
	}
	a.linked[real] = dst
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// --- API for tests ----------------------------------------------------------------------------

// NodeName returns the name of the agent's Node.
func (a *Agent) NodeName() string { return a.node }

// Root returns the agent's working directory.
func (a *Agent) Root() string { return a.root }

// DNSServer returns the host:port of the agent's cluster DNS server.
func (a *Agent) DNSServer() string { return net.JoinHostPort(a.ipam.nodeIP(), "53") }

func (a *Agent) split(pod string) (ns, name string) {
	if ns, name, ok := strings.Cut(pod, "/"); ok {
		return ns, name
	}
	return a.opts.Namespaces[0], pod
}

func (a *Agent) worker(pod string) *podWorker {
	ns, name := a.split(pod)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byName[ns+"/"+name]
}

// PodIP returns the loopback IP of the pod's current incarnation, where its processes listen
// ("" when it has none). It is unique per incarnation: a recreated pod gets a new one.
func (a *Agent) PodIP(pod string) string {
	w := a.worker(pod)
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return ""
	}
	return w.ip
}

// PublishedIP returns the address the pod's status carries (10.a.b.n for PodIP 127.a.b.n), the
// one EndpointSlices list; nothing listens there.
func (a *Agent) PublishedIP(pod string) string {
	if ip := a.PodIP(pod); ip != "" {
		return published(ip)
	}
	return ""
}

// URL returns http://<pod IP>:4001, rqlite's HTTP API on the pod.
func (a *Agent) URL(pod string) string {
	ip := a.PodIP(pod)
	if ip == "" {
		return ""
	}
	return "http://" + net.JoinHostPort(ip, "4001")
}

// ProcessPID returns the pid of the container's running process, 0 when it is not running. A
// pid that stays the same proves the container was not restarted.
func (a *Agent) ProcessPID(pod, container string) int {
	w := a.worker(pod)
	if w == nil {
		return 0
	}
	c := w.container(container)
	if c == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.proc == nil || c.proc.exited() {
		return 0
	}
	return c.proc.pid
}

// PVCDir returns the directory holding the data of a PersistentVolumeClaim ("claim" or
// "namespace/claim"); "" when the claim does not exist.
func (a *Agent) PVCDir(claim string) string {
	ns, name := a.split(claim)
	c, ok := a.pvcs[ns]
	if !ok {
		return ""
	}
	pvc, ok := c.get(ns, name)
	if !ok {
		return ""
	}
	return a.pvcDir(pvc)
}

// Kill sends SIGKILL to every running container process of the pod, as a crash would; the
// restart policy decides what happens next.
func (a *Agent) Kill(pod string) {
	w := a.worker(pod)
	if w == nil {
		a.t.Errorf("podagent: Kill(%s): no such pod on %s", pod, a.node)
		return
	}
	w.killAllNow()
}

// Logs returns everything the container wrote (every restart, separated by a line starting with
// "### podagent"), of the pod's latest incarnation, also after it was deleted.
func (a *Agent) Logs(pod, container string) string {
	w := a.worker(pod)
	if w == nil {
		return ""
	}
	b, err := os.ReadFile(w.logPath(container))
	if err != nil {
		return ""
	}
	return string(b)
}

// WaitReady waits until every named pod exists and its Ready condition is True in the API.
func (a *Agent) WaitReady(ctx context.Context, pods ...string) error {
	for {
		var notReady []string
		for _, p := range pods {
			if why := a.notReady(p); why != "" {
				notReady = append(notReady, p+": "+why)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods not ready: %s", strings.Join(notReady, "; "))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *Agent) notReady(pod string) string {
	ns, name := a.split(pod)
	c, ok := a.pods[ns]
	if !ok {
		return "namespace not watched by the agent"
	}
	p, ok := c.get(ns, name)
	if !ok {
		return "no such pod"
	}
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			return fmt.Sprintf("phase %s, %s: %s", p.Status.Phase, c.Reason, c.Message)
		}
	}
	return fmt.Sprintf("phase %s, not yet reported ready", p.Status.Phase)
}

// Resolver returns a resolver that asks the agent's cluster DNS, for test code that must follow
// cluster names (e.g. rqlite's advertised addresses). Names must be fully qualified.
func (a *Agent) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, a.DNSServer())
	}}
}

// HTTPClient returns an HTTP client whose dialer resolves cluster names through the agent's DNS.
func (a *Agent) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	d := &net.Dialer{Resolver: a.Resolver(), Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr}
}

// --- shutdown ---------------------------------------------------------------------------------

func (a *Agent) stop() {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		a.stopping = true
		workers := make([]*podWorker, 0, len(a.workers))
		for _, w := range a.workers {
			workers = append(workers, w)
		}
		a.mu.Unlock()
		for _, w := range workers {
			w.abort()
		}
		if a.cancel != nil {
			a.cancel()
		}
		waitTimeout(&a.wg, 30*time.Second)
		a.deleteObjects()
		if a.events != nil {
			a.events.Shutdown()
		}
		if a.dns != nil {
			a.dns.close()
		}
		if a.t.Failed() {
			a.t.Logf("podagent: logs in %s\n%s", a.root, a.logTails(40))
		}
		if a.logFile != nil {
			a.logFile.Close()
		}
		if a.root != "" && a.opts.Root == "" && os.Getenv("RQLITE_KRM_TESTENV_KEEP") != "1" {
			_ = os.RemoveAll(a.root)
		}
	})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// deleteObjects removes what the agent put into the API: its pods (already stopped, so a
// force deletion is the truth), PersistentVolumes, Lease and Node. A namespace deleted after the
// agent stopped would otherwise wait for a kubelet that is gone.
func (a *Agent) deleteObjects() {
	if a.node == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	zero := int64(0)
	for ns := range a.pods {
		pods, err := a.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + a.node})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			_ = a.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
	}
	_ = a.client.CoreV1().PersistentVolumes().DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: labelAgentNode + "=" + a.node})
	_ = a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, a.node, metav1.DeleteOptions{})
	_ = a.client.CoreV1().Nodes().Delete(ctx, a.node, metav1.DeleteOptions{})
}

func (a *Agent) logTails(lines int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- agent.log (last %d lines) ---\n%s\n", lines, tailFile(filepath.Join(a.root, "agent.log"), lines))
	a.mu.Lock()
	keys := make([]string, 0, len(a.byName))
	for k := range a.byName {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		a.mu.Lock()
		w := a.byName[k]
		a.mu.Unlock()
		for _, c := range w.allContainers() {
			fmt.Fprintf(&b, "--- %s container %s (last %d lines) ---\n%s\n", k, c.spec.Name, lines, tailFile(w.logPath(c.spec.Name), lines))
		}
	}
	return b.String()
}

func tailFile(p string, lines int) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// signalGroup signals a process group by its leader's pid.
func signalGroup(pid int, sig syscall.Signal) {
	if pid > 0 {
		_ = syscall.Kill(-pid, sig)
	}
}
