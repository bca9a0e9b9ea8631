package testenv

import (
	"fmt"
	"path/filepath"
)

// The node's configuration files. Every path that would default to a host location (/var/lib,
// /etc/cni, /opt, /run/containerd/runc, /var/log/pods) points into the node's directory.

// PauseImage is the name the sandbox image is loaded under (containerd's pinned sandbox image).
// It is the project's own static pause program (hack/tools/pause), not registry.k8s.io/pause.
const PauseImage = "rqlite-krm.test/pause:1"

func containerdConfig(dir, runc string) string {
	c := func(parts ...string) string { return filepath.Join(append([]string{dir, "containerd"}, parts...)...) }
	return fmt.Sprintf(`version = 3
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins]
  # NRI would listen on /var/run/nri; nothing here uses it.
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.internal.v1.opt']
    path = %q
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %q
  [plugins.'io.containerd.cri.v1.runtime']
    # This VM's bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below
    # containerd's own ("nsexec: failed to update /proc/self/oom_score_adj: Permission
    # denied"), so the kubelet's -998 for the sandbox is raised to what is allowed.
    restrict_oom_score_adj = true
    # Pod network namespaces under the state directory, not the host's /var/run/netns.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %q
          Root = %q
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = %q
`, c("root"), c("state"), c("containerd.sock"), c("containerd.sock.ttrpc"), c("opt"), PauseImage,
		runc, c("runc"), filepath.Join(dir, "cni", "net.d"))
}

// cniConfig: one bridge with host-local addresses from PodCIDR. The bridge is the pods' gateway,
// so traffic to Services and to the node is routed through the node's namespace, where
// kube-proxy's rules apply. hairpinMode lets a pod reach itself through a Service.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "testenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, PodCIDR, filepath.Join(dir, "cni", "ipam"))
}

// kubeletConfig: what this VM needs (cgroup v1 with the cgroupfs driver, no swap check), no
// eviction or image garbage collection on a shared disk (a busy CI disk must not evict the
// pods under test), and everything on the node's own paths.
func kubeletConfig(dir, cgroupRoot, caFile string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%s
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
failSwapOn: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %s
podLogsDir: %s
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 1Mi
serializeImagePulls: false
shutdownGracePeriod: 0s
`, filepath.Join(dir, "containerd", "containerd.sock"), cgroupRoot, caFile, ClusterDNSIP,
		filepath.Join(dir, "kubelet", "resolv.conf"), filepath.Join(dir, "kubelet", "pod-logs"))
}

// proxyConfig: iptables mode. masqueradeAll: a pod reaching a Service whose endpoint is on the
// same bridge would otherwise get the answer straight from the endpoint's address and drop it.
// The conntrack settings are zero because they are global sysctls of this shared machine.
func proxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
iptables:
  masqueradeAll: true
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
`, kubeconfig, NodeName, PodCIDR)
}

// corefile: CoreDNS serving cluster.local from the API like kubeadm's default Corefile, with
// two differences. No `forward`: nothing outside this cluster may be asked, so every other name
// gets NXDOMAIN, which is what an upstream resolver answers for the names pods try here (the
// search list's leftovers such as "rqlite-4.rqlite-headless."); without the template, CoreDNS
// answers SERVFAIL ("no next plugin found"), which no real cluster does. No `cache 30`: answers
// carry the kubernetes plugin's 5 s TTL, so a test sees a pod that became ready within seconds
// rather than half a minute (a difference of timing only).
func corefile(kubeconfig string) string {
	return fmt.Sprintf(`cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind %[1]s
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %[2]s testenv
        pods insecure
    }
}
.:53 {
    bind %[1]s
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`, NodeIP, kubeconfig)
}
