package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The real node runs inside private Linux namespaces that the whole test binary enters (see
// RunInNodeNamespaces): a network namespace (the node's veth, the CNI bridge, kube-proxy's
// iptables rules and every pod address exist only there), a mount namespace (the kubelet's
// volume mounts, containerd's overlay mounts and the tmpfs the node puts over host paths vanish
// with it) and a PID namespace (when the test binary, its PID 1, exits for any reason, the kernel
// kills every kubelet, shim and container process left). What survives the namespaces on the
// host is the working directory and the cgroup directories under /sys/fs/cgroup/*, which the
// outer process removes after the inner one exited.
const (
	envNodeNamespaces = "RQLITE_KRM_NODE_NAMESPACES" // set in the inner process
	envNodeDir        = "RQLITE_KRM_NODE_DIR"        // the node's working directory
	envNodeCgroup     = "RQLITE_KRM_NODE_CGROUP"     // the kubelet's cgroupRoot, without "/"

	// NodeName is the real node's name (its kubernetes.io/hostname label).
	NodeName = "testenv-node"
	// NodeIP is the node's address, on a veth inside the node's network namespace; the
	// kube-apiserver advertises it (the "kubernetes" Service's endpoint) and CoreDNS listens on it.
	NodeIP = "10.200.0.1"
	// PodCIDR is the range the CNI bridge gives pod addresses from.
	PodCIDR = "10.244.0.0/24"
	// ClusterDNSIP is the kube-dns Service's ClusterIP, the pods' nameserver.
	ClusterDNSIP = "10.96.0.10"

	nodeVeth     = "rkn0"
	nodeVethPeer = "rkn1"
)

// RunInNodeNamespaces is for the TestMain of a package whose tests use the real node:
//
//	func TestMain(m *testing.M) {
//		if code, outer := testenv.RunInNodeNamespaces(); outer {
//			os.Exit(code)
//		}
//		os.Exit(m.Run()) // inside the namespaces
//	}
//
// In the outer process (the one `go test` started) it runs the same test binary, with the same
// arguments, under `unshare` in fresh namespaces, waits for it, cleans up what the namespaces
// cannot take with them, and returns its exit code with outer true. In the inner process it
// prepares the namespaces (network, mounts, sysctls) and returns outer false, or exits with
// code 1 if that fails.
func RunInNodeNamespaces() (code int, outer bool) {
	if os.Getenv(envNodeNamespaces) == "1" {
		if err := setupNodeNamespaces(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: prepare the node's namespaces: %v\n", err)
			os.Exit(1)
		}
		return 0, false
	}
	return runOuter(), true
}

func runOuter() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "testenv: the real node needs root (namespaces, mounts, cgroups, iptables)")
		return 1
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: no unshare on PATH (Debian: util-linux)")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "rqlite-krm-node-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	cgroup := "rqlite-krm-node-" + strconv.Itoa(os.Getpid())
	// --kill-child: if `go test -timeout` kills this process, unshare dies with it (Pdeathsig)
	// and takes the namespace's PID 1 along, which takes everything else.
	args := append([]string{"--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
		"--kill-child", "--", self}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNodeNamespaces+"=1", envNodeDir+"="+dir, envNodeCgroup+"="+cgroup)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintf(os.Stderr, "testenv: run the tests in the node's namespaces: %v\n", err)
			code = 1
		} else {
			code = exit.ExitCode()
		}
	}
	if err := removeCgroups(cgroup, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		code = max(code, 1)
	}
	if os.Getenv("RQLITE_KRM_TESTENV_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "testenv: kept %s\n", dir)
	} else if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: remove the node's directory: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// removeCgroups removes the node's cgroup tree from every hierarchy, deepest first. The
// processes in it were killed with the PID namespace a moment ago; the kernel may take a
// little while to let go of their cgroups, hence the retries.
func removeCgroups(name string, timeout time.Duration) error {
	roots, err := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if err != nil {
		return err
	}
	if top := "/sys/fs/cgroup/" + name; isDir(top) { // a cgroup v2 machine
		roots = append(roots, top)
	}
	deadline := time.Now().Add(timeout)
	for _, root := range roots {
		for {
			err := removeCgroupTree(root)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("remove cgroup %s: %w", root, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Longest paths first: children before their parents. cgroupfs directories hold only
	// kernel files, so rmdir (not RemoveAll) is the way to delete them.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			return err
		}
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// setupNodeNamespaces runs in the inner process, before any test.
func setupNodeNamespaces() error {
	dir := os.Getenv(envNodeDir)
	if dir == "" || os.Getenv(envNodeCgroup) == "" {
		return errors.New(envNodeDir + " and " + envNodeCgroup + " must be set by the outer process")
	}
	// The network namespace starts with lo down and nothing else. The node's address sits on a
	// veth whose peer stays without an address: a default route through it lets the kubelet
	// and kube-proxy find their node IP and lets Service IPs be routed (kube-proxy's DNAT runs
	// after the routing decision), while anything sent to another address is dropped inside
	// this namespace. (A dummy interface would do, but this kernel has no dummy driver.)
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", nodeVeth, "type", "veth", "peer", "name", nodeVethPeer},
		{"addr", "add", NodeIP + "/24", "dev", nodeVeth},
		{"link", "set", nodeVeth, "up"},
		{"link", "set", nodeVethPeer, "up"},
		{"route", "add", "default", "dev", nodeVeth},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// Per network namespace, so these change nothing outside: pods reach Services and the node
	// through the bridge, which needs forwarding.
	for path, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                 "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sysctl %s: %w", path, err)
		}
	}
	// The kubelet sets these global (not per-namespace) sysctls to its liking at start-up; on
	// this shared machine it must not. Files holding the values it wants, bind-mounted over
	// the entries in this mount namespace's /proc, satisfy its check without touching the
	// kernel's settings.
	sysctlDir := filepath.Join(dir, "sysctl")
	if err := os.MkdirAll(sysctlDir, 0o755); err != nil {
		return err
	}
	for name, value := range map[string]string{
		"vm/overcommit_memory":      "1",
		"vm/panic_on_oom":           "0",
		"kernel/panic":              "10",
		"kernel/panic_on_oops":      "1",
		"kernel/keys/root_maxkeys":  "1000000",
		"kernel/keys/root_maxbytes": "25000000",
	} {
		file := filepath.Join(sysctlDir, strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(file, []byte(value+"\n"), 0o644); err != nil {
			return err
		}
		if err := syscall.Mount(file, "/proc/sys/"+name, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s over /proc/sys/%s: %w", file, name, err)
		}
	}
	// Paths the kubelet, containerd's shims and the CNI library write to without a setting to
	// move them: an empty tmpfs over each, visible only in this mount namespace.
	//   /var/log: the kubelet's /var/log/containers links (hard-coded).
	//   /var/lib: libcni's result cache /var/lib/cni (containerd offers no setting); nothing
	//   the tests run inside reads the host's /var/lib.
	//   /run/containerd: the shims' sockets go to /run/containerd/s (hard-coded), next to
	//   those of the host's containerd (Docker's engine uses it; this hides them from the
	//   node, not from the engine, which the docker CLI reaches through /run/docker.sock).
	for _, p := range []string{"/var/log", "/var/lib", "/run/containerd"} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", p, err)
		}
	}
	return nil
}
