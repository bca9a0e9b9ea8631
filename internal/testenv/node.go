package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Node is a real single-node cluster: the control plane (etcd, kube-apiserver,
// kube-controller-manager) plus kube-scheduler, a containerd of its own with Debian's runc, the
// kubelet, the CNI bridge (Debian's plugins), kube-proxy (iptables) and CoreDNS (serving
// cluster.local from the API behind the kube-dns Service). Pods run as real containers from
// images loaded into containerd (LoadImages); PersistentVolumeClaims are bound to local
// PersistentVolumes on directories of the node (see pvbinder.go).
//
// It only runs inside the namespaces RunInNodeNamespaces prepares.
type Node struct {
	*ControlPlane
	dir        string
	cgroupRoot string
	tools      map[string]string

	containerd *serverProcess
	kubelet    *serverProcess
	scheduler  *serverProcess
	proxy      *serverProcess
	coredns    *serverProcess
	binder     *pvBinder

	stopOnce sync.Once
}

// nodeTools are the binaries StartNode runs, by their name in .tools/bin (`make tools`).
var nodeTools = []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "cni-bridge",
	"kubelet", "kube-scheduler", "kube-proxy", "coredns"}

// StartNode starts the whole node; on error everything started so far is stopped.
func StartNode(timeout time.Duration) (_ *Node, err error) {
	dir, cgroup := os.Getenv(envNodeDir), os.Getenv(envNodeCgroup)
	if os.Getenv(envNodeNamespaces) != "1" || dir == "" || cgroup == "" {
		return nil, errors.New("the real node runs only inside RunInNodeNamespaces (call it first in TestMain)")
	}
	n := &Node{dir: dir, cgroupRoot: "/" + cgroup, tools: map[string]string{}}
	for _, name := range nodeTools {
		if n.tools[name], err = LookupTool(name); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	// The API server listens on every address of the node's namespace and advertises the node
	// IP: pods (the shrink Job) reach it through the "kubernetes" Service like in a cluster,
	// which needs the endpoint reconciler that the loopback-only control plane turns off.
	n.ControlPlane, err = startControlPlane(ControlPlaneOptions{
		ControllerManager: true,
		StartTimeout:      timeout,
		ExtraAPIServerArgs: []string{"--bind-address=0.0.0.0", "--advertise-address=" + NodeIP,
			"--endpoint-reconciler-type=lease"},
	})
	if err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"containerd", n.startContainerd},
		{"kube-scheduler", n.startScheduler},
		{"kubelet", n.startKubelet},
		{"kube-proxy", n.startProxy},
		{"CoreDNS", n.startCoreDNS},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.what, err)
		}
	}
	n.binder = startPVBinder(n.client, filepath.Join(dir, "volumes"))
	return n, nil
}

func (n *Node) path(parts ...string) string {
	return filepath.Join(append([]string{n.dir}, parts...)...)
}

// writeFiles writes each file (creating its directory), mode 0644.
func writeFiles(files map[string]string) error {
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// kubeconfigFor writes a kubeconfig for the API server with a bearer token.
func (n *Node) kubeconfigFor(name, token string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: n.host, CertificateAuthorityData: n.pki.CAPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: name}
	cfg.CurrentContext = "testenv"
	path := n.path("kubeconfig-" + name)
	return path, clientcmd.WriteToFile(*cfg, path)
}

// ContainerdSocket is the node's containerd socket, for ctr (Ctr).
func (n *Node) ContainerdSocket() string { return n.path("containerd", "containerd.sock") }

func (n *Node) startContainerd(ctx context.Context) error {
	if err := writeFiles(map[string]string{
		n.path("containerd", "config.toml"):           containerdConfig(n.dir, n.tools["runc"]),
		n.path("cni", "net.d", "10-testenv.conflist"): cniConfig(n.dir),
	}); err != nil {
		return err
	}
	// containerd starts the shim by name from PATH; the pinned one must come first.
	shimDir := filepath.Dir(n.tools["containerd-shim-runc-v2"])
	p, err := startServerEnv("containerd", n.tools["containerd"],
		[]string{"--config", n.path("containerd", "config.toml"), "--log-level", "warn"},
		n.path("containerd.log"), []string{"PATH=" + shimDir + ":" + os.Getenv("PATH")})
	if err != nil {
		return err
	}
	n.containerd = p
	return p.waitFor(ctx, "containerd's socket", func(ctx context.Context) error {
		_, err := n.Ctr(ctx, "version")
		return err
	})
}

// Ctr runs ctr against the node's containerd in the Kubernetes namespace ("k8s.io") and
// returns its combined output (for `tasks exec`, the command's stdout and stderr) without
// ctr's own log lines: on this cgroup v1 machine every call logs containerd's deprecation
// warning for cgroup v1, which is no output of the command.
func (n *Node) Ctr(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--address", n.ContainerdSocket(), "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, n.tools["ctr"], full...).CombinedOutput()
	var kept []string
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if !strings.HasPrefix(line, `time="`) || !strings.Contains(line, " level=") {
			kept = append(kept, line)
		}
	}
	out = []byte(strings.Join(kept, ""))
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// ImportImages loads a `docker save` archive into the node's containerd and gives each image
// the extra names in names (image ref as saved → names the rendered manifests use), so that
// the kubelet finds them under those names and never pulls.
func (n *Node) ImportImages(ctx context.Context, archive string, names map[string][]string) error {
	if _, err := n.Ctr(ctx, "images", "import", "--no-unpack=false", archive); err != nil {
		return err
	}
	for ref, extra := range names {
		for _, name := range extra {
			if _, err := n.Ctr(ctx, "images", "tag", "--force", normalizeRef(ref), name); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeRef is the name containerd gives an image imported from `docker save`: Docker Hub's
// defaults spelled out ("x/y:t" → "docker.io/x/y:t").
func normalizeRef(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if !found {
		return "docker.io/library/" + ref
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return ref
	}
	return "docker.io/" + ref
}

func (n *Node) startScheduler(ctx context.Context) error {
	p, err := startServer("kube-scheduler", n.tools["kube-scheduler"], []string{
		"--kubeconfig=" + n.kubeconfig,
		"--authentication-kubeconfig=" + n.kubeconfig,
		"--authorization-kubeconfig=" + n.kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--profiling=false",
		"--v=1",
	}, n.path("kube-scheduler.log"))
	if err != nil {
		return err
	}
	n.scheduler = p
	return nil
}

func (n *Node) startKubelet(ctx context.Context) error {
	kubeconfig, err := n.kubeconfigFor("node", n.pki.NodeToken)
	if err != nil {
		return err
	}
	// The kubelet's cgroup root must exist in every hierarchy (cgroupfs driver, cgroup v1).
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if fi, err := os.Stat(filepath.Join(h, "cgroup.procs")); err != nil || fi.IsDir() {
			continue
		}
		if err := os.MkdirAll(filepath.Join(h, n.cgroupRoot), 0o755); err != nil {
			return err
		}
	}
	if err := writeFiles(map[string]string{
		n.path("kubelet", "config.yaml"): kubeletConfig(n.dir, n.cgroupRoot, n.pki.CACert),
		n.path("kubelet", "resolv.conf"): "",
	}); err != nil {
		return err
	}
	p, err := startServer("kubelet", n.tools["kubelet"], []string{
		"--config=" + n.path("kubelet", "config.yaml"),
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + n.path("kubelet", "root"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP,
		"--v=1",
	}, n.path("kubelet.log"))
	if err != nil {
		return err
	}
	n.kubelet = p
	return p.waitFor(ctx, "Node "+NodeName+" Ready", func(ctx context.Context) error {
		node, err := n.client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node not Ready: %v", node.Status.Conditions)
	})
}

func (n *Node) startProxy(ctx context.Context) error {
	if err := writeFiles(map[string]string{n.path("kube-proxy.yaml"): proxyConfig(n.kubeconfig)}); err != nil {
		return err
	}
	p, err := startServer("kube-proxy", n.tools["kube-proxy"],
		[]string{"--config=" + n.path("kube-proxy.yaml"), "--v=1"}, n.path("kube-proxy.log"))
	if err != nil {
		return err
	}
	n.proxy = p
	// The "kubernetes" Service's rule shows kube-proxy has synced Services into iptables.
	return p.waitFor(ctx, "the kubernetes Service in iptables", func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "iptables", "-t", "nat", "-S", "KUBE-SERVICES").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(string(out), "default/kubernetes:https") {
			return errors.New("no rule for default/kubernetes yet")
		}
		return nil
	})
}

// startCoreDNS runs CoreDNS on the node's address and puts it behind the kube-dns Service
// (ClusterDNSIP, the kubelet's clusterDNS) with an EndpointSlice of its own, as a cluster that
// runs CoreDNS outside its pod network would: pods query the Service IP through kube-proxy.
func (n *Node) startCoreDNS(ctx context.Context) error {
	if err := writeFiles(map[string]string{n.path("Corefile"): corefile(n.kubeconfig)}); err != nil {
		return err
	}
	p, err := startServer("coredns", n.tools["coredns"], []string{"-conf", n.path("Corefile")}, n.path("coredns.log"))
	if err != nil {
		return err
	}
	n.coredns = p
	if err := n.createKubeDNSService(ctx); err != nil {
		return err
	}
	resolver := n.Resolver()
	return p.waitFor(ctx, "kubernetes.default through the kube-dns Service", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		addrs, err := resolver.LookupHost(ctx, "kubernetes.default.svc.cluster.local")
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0] != "10.96.0.1" {
			return fmt.Errorf("kubernetes.default.svc.cluster.local is %v", addrs)
		}
		return nil
	})
}

// Resolver asks the cluster's DNS (the kube-dns Service) like a pod does, for names such as
// rqlite-0.rqlite-headless.<namespace>.svc.cluster.local.
func (n *Node) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(ClusterDNSIP, "53"))
	}}
}

// HTTPClient dials through the cluster's DNS, so that it can follow what rqlited advertises
// (its headless-Service names); pod and Service IPs are routable from the test binary, which
// lives in the node's network namespace.
func (n *Node) HTTPClient() *http.Client {
	d := &net.Dialer{Resolver: n.Resolver(), Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func (n *Node) createKubeDNSService(ctx context.Context) error {
	ports := []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem},
		Spec:       corev1.ServiceSpec{ClusterIP: ClusterDNSIP, Ports: ports},
	}
	if _, err := n.client.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return err
	}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-node", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{NodeIP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	for _, p := range ports {
		name, proto, port := p.Name, p.Protocol, p.Port
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port})
	}
	_, err := n.client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).Create(ctx, slice, metav1.CreateOptions{})
	return err
}

// Stop stops the node's processes (the kubelet first, so that it restarts nothing), every
// container, and the control plane; then it unmounts what the kubelet and containerd mounted
// under the node's directory. Safe to call more than once. Whatever it misses dies with the
// namespaces, and the outer process removes the directory and the cgroups.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		if n.binder != nil {
			n.binder.stop()
		}
		for _, p := range []*serverProcess{n.kubelet, n.proxy, n.coredns, n.scheduler} {
			if p != nil {
				p.stop(5 * time.Second)
			}
		}
		if n.containerd != nil {
			n.killContainers()
			n.containerd.stop(10 * time.Second)
		}
		if n.ControlPlane != nil {
			n.ControlPlane.Stop()
		}
		if err := unmountUnder(n.dir); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		}
	})
}

// killContainers kills every process that is not this test binary's own: in the node's PID
// namespace those are the shims and the containers (the servers were stopped before).
func (n *Node) killContainers() {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self || pid == 1 {
			continue
		}
		if pid == n.containerd.cmd.Process.Pid {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// WriteLogTails writes the last lines of every component's log.
func (n *Node) WriteLogTails(w *os.File, lines int) {
	if n.ControlPlane != nil {
		n.ControlPlane.WriteLogTails(w, lines)
	}
	for _, p := range []*serverProcess{n.containerd, n.kubelet, n.scheduler, n.proxy, n.coredns} {
		if p != nil {
			fmt.Fprintf(w, "%s\n", p.tail(lines))
		}
	}
}

// ContainerLogs returns what a container of a pod incarnation wrote, from the kubelet's log
// files (CRI format: "<time> <stream> <tag> <line>"), every restart's file in order. It reads
// the files rather than asking the API (pods/log) because the API server has no client
// certificate for the kubelet here.
func (n *Node) ContainerLogs(namespace, pod, uid, container string) (string, error) {
	dir := n.path("kubelet", "pod-logs", namespace+"_"+pod+"_"+uid, container)
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no log files in %s", dir)
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		b.Write(data)
	}
	return b.String(), nil
}
