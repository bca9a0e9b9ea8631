package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	adminUser = "testenv-admin"

	// ServiceClusterIPRange is only the range the API server allocates
	// Service ClusterIPs from; with no kube-proxy nothing routes to it.
	ServiceClusterIPRange = "10.96.0.0/16"

	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	defaultStartTimeout  = 2 * time.Minute
	startAttempts        = 3
)

// ControlPlaneOptions configures StartControlPlane.
type ControlPlaneOptions struct {
	// ControllerManager also runs kube-controller-manager, so that workload
	// controllers (StatefulSet, Job, endpoints, garbage collection,
	// service-account tokens, namespace deletion, ...) act on what a test
	// applies. Without it the API server validates, admits and stores
	// objects, and nothing else happens.
	ControllerManager bool

	// APIServer is the kube-apiserver to run, by its name in .tools/bin: "kube-apiserver" (the
	// default, the current release) or "kube-apiserver-1.30", the oldest Kubernetes minor the
	// renders support. kube-controller-manager is only built at the current release, so
	// ControllerManager goes with the default only.
	APIServer string

	// StartTimeout bounds the whole start-up; zero means two minutes, which
	// leaves room for a cold, busy 2-core CI machine.
	StartTimeout time.Duration

	// Extra flags, appended after the generated ones; for a repeated scalar
	// flag the last one wins.
	ExtraAPIServerArgs         []string
	ExtraControllerManagerArgs []string
}

// ControlPlane is a running etcd + kube-apiserver (+ kube-controller-manager)
// on loopback ports, with an admin identity (group system:masters).
//
// There is no kubelet, scheduler or kube-proxy: Pods are created and admitted
// but stay Pending, and Service IPs are allocated but not routable.
type ControlPlane struct {
	dir        string
	pki        *pkiFiles
	etcd       *serverProcess
	apiserver  *serverProcess
	kcm        *serverProcess
	host       string
	restConfig *rest.Config
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	kubeconfig string

	mapperMu sync.Mutex
	mapper   meta.ResettableRESTMapper

	stopOnce sync.Once
	stopped  atomic.Bool
}

// StartControlPlane starts a control plane for one test and stops it when
// the test ends. On failure the logs' tails are written to the test log.
func StartControlPlane(t testing.TB, opts ControlPlaneOptions) *ControlPlane {
	t.Helper()
	cp, err := startControlPlane(opts)
	if err != nil {
		t.Fatalf("testenv: start control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			cp.WriteLogTails(&b, 40)
			t.Logf("testenv: control plane logs (in %s):\n%s", cp.dir, b.String())
		}
		cp.Stop()
	})
	return cp
}

// StartControlPlaneMain is StartControlPlane for a TestMain that shares one
// control plane among all tests of a package (start-up costs several
// seconds). Call stop after m.Run; if the tests failed, call
// cp.WriteLogTails(os.Stderr, n) first, since stop deletes the logs.
func StartControlPlaneMain(opts ControlPlaneOptions) (cp *ControlPlane, stop func(), err error) {
	cp, err = startControlPlane(opts)
	if err != nil {
		return nil, nil, err
	}
	return cp, cp.Stop, nil
}

func startControlPlane(opts ControlPlaneOptions) (_ *ControlPlane, err error) {
	etcdBin, err := LookupTool("etcd")
	if err != nil {
		return nil, err
	}
	apiserverName := "kube-apiserver"
	if opts.APIServer != "" {
		if opts.ControllerManager {
			return nil, fmt.Errorf("%s with kube-controller-manager: only the current release of the controller manager is built", opts.APIServer)
		}
		apiserverName = opts.APIServer
	}
	apiserverBin, err := LookupTool(apiserverName)
	if err != nil {
		return nil, err
	}
	var kcmBin string
	if opts.ControllerManager {
		if kcmBin, err = LookupTool("kube-controller-manager"); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = defaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "rqlite-krm-testenv-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	if cp.pki, err = writePKI(dir); err != nil {
		return nil, fmt.Errorf("make certificates: %w", err)
	}
	if err = cp.startEtcd(ctx, etcdBin); err != nil {
		return nil, err
	}
	if err = cp.startAPIServer(ctx, apiserverBin, opts.ExtraAPIServerArgs); err != nil {
		return nil, err
	}
	if opts.ControllerManager {
		if err = cp.startControllerManager(ctx, kcmBin, opts.ExtraControllerManagerArgs); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// retryPorts runs start with fresh ports until the process does not die of
// "address already in use": a port found free can be taken by someone else
// before the server binds it, and parallel test packages make that likely
// enough to matter.
func retryPorts(nPorts int, start func(ports []int) (*serverProcess, error)) (*serverProcess, error) {
	var lastErr error
	for range startAttempts {
		ports, err := freePorts(nPorts)
		if err != nil {
			return nil, err
		}
		p, err := start(ports)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if p == nil || !p.addressInUse() {
			return nil, err
		}
	}
	return nil, lastErr
}

func (cp *ControlPlane) startEtcd(ctx context.Context, bin string) error {
	var attempt int
	p, err := retryPorts(2, func(ports []int) (*serverProcess, error) {
		attempt++
		clientURL := "http://" + hostPort(ports[0])
		peerURL := "http://" + hostPort(ports[1])
		args := []string{
			"--name=testenv",
			"--data-dir=" + filepath.Join(cp.dir, "etcd-"+strconv.Itoa(attempt)),
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=testenv=" + peerURL,
			"--initial-cluster-state=new",
			"--logger=zap",
			"--log-outputs=stderr",
			"--log-level=warn",
		}
		p, err := startServer("etcd", bin, args, filepath.Join(cp.dir, "etcd.log"))
		if err != nil {
			return nil, err
		}
		cp.etcd = p
		health := clientURL + "/health"
		err = p.waitFor(ctx, "etcd health", func(ctx context.Context) error {
			return checkEtcdHealth(ctx, health)
		})
		if err != nil {
			p.stop(time.Second)
			return p, err
		}
		return p, nil
	})
	if err != nil {
		return err
	}
	cp.etcd = p
	return nil
}

func checkEtcdHealth(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if body.Health != "true" {
		return fmt.Errorf("etcd health %q", body.Health)
	}
	return nil
}

func (cp *ControlPlane) etcdURL() string {
	for _, a := range cp.etcd.cmd.Args {
		if v, ok := strings.CutPrefix(a, "--advertise-client-urls="); ok {
			return v
		}
	}
	return ""
}

func (cp *ControlPlane) startAPIServer(ctx context.Context, bin string, extra []string) error {
	p, err := retryPorts(1, func(ports []int) (*serverProcess, error) {
		cp.host = "https://" + hostPort(ports[0])
		args := []string{
			"--etcd-servers=" + cp.etcdURL(),
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The endpoint reconciler publishes the advertise address as the
			// "kubernetes" Service's endpoints and refuses a loopback one.
			// Nothing in the tests runs in a Pod, so nobody needs them.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(ports[0]),
			// Without --cert-dir the apiserver may try to write under
			// /var/run/kubernetes, which is shared between test runs.
			"--cert-dir=" + filepath.Join(cp.dir, "apiserver-certs"),
			"--tls-cert-file=" + cp.pki.ServingCert,
			"--tls-private-key-file=" + cp.pki.ServingKey,
			"--client-ca-file=" + cp.pki.CACert,
			"--token-auth-file=" + cp.pki.TokenAuthFile,
			"--authorization-mode=Node,RBAC",
			// PodSecurity is in the default set of recent releases; naming
			// it keeps the restricted-namespace tests meaningful should a
			// release or an extra flag change the defaults.
			"--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity",
			// Real clusters allow privileged containers at the API level and
			// leave the decision to Pod Security admission; without this
			// flag validation itself would reject them and mask PodSecurity.
			"--allow-privileged=true",
			"--service-cluster-ip-range=" + ServiceClusterIPRange,
			"--service-account-issuer=" + serviceAccountIssuer,
			"--service-account-key-file=" + cp.pki.SAPublicKey,
			"--service-account-signing-key-file=" + cp.pki.SAPrivateKey,
			"--profiling=false",
			"--v=1",
		}
		args = append(args, extra...)
		p, err := startServer("kube-apiserver", bin, args, filepath.Join(cp.dir, "kube-apiserver.log"))
		if err != nil {
			return nil, err
		}
		cp.apiserver = p
		if err := cp.initClients(); err != nil {
			return p, err
		}
		err = p.waitFor(ctx, "/readyz", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			body, err := cp.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(body)) != "ok" {
				return fmt.Errorf("/readyz: %s", body)
			}
			return nil
		})
		if err == nil {
			// /readyz can turn ok a moment before the bootstrap controller
			// has created the default namespace, which every caller needs.
			err = p.waitFor(ctx, `namespace "default"`, func(ctx context.Context) error {
				_, err := cp.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
				return err
			})
		}
		if err != nil {
			p.stop(5 * time.Second)
			return p, err
		}
		return p, nil
	})
	if err != nil {
		return err
	}
	cp.apiserver = p
	return cp.writeKubeconfig()
}

func (cp *ControlPlane) initClients() error {
	cfg := &rest.Config{
		Host:            cp.host,
		BearerToken:     cp.pki.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.pki.CAPEM},
		// Tests create objects in bursts; client-go's default of 5 QPS
		// would make them wait on the client, not on the server.
		QPS:   100,
		Burst: 200,
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cp.restConfig, cp.client, cp.dynamic = cfg, client, dyn
	return nil
}

func (cp *ControlPlane) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{
		Server:                   cp.host,
		CertificateAuthorityData: cp.pki.CAPEM,
	}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: cp.pki.AdminToken}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: adminUser}
	cfg.CurrentContext = "testenv"
	cp.kubeconfig = filepath.Join(cp.dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, cp.kubeconfig)
}

func (cp *ControlPlane) startControllerManager(ctx context.Context, bin string, extra []string) error {
	args := []string{
		"--kubeconfig=" + cp.kubeconfig,
		// Without these two it logs warnings and cannot authorize requests
		// to its own endpoints; harmless, but noisy in every failure log.
		"--authentication-kubeconfig=" + cp.kubeconfig,
		"--authorization-kubeconfig=" + cp.kubeconfig,
		"--controllers=*",
		"--service-account-private-key-file=" + cp.pki.SAPrivateKey,
		"--root-ca-file=" + cp.pki.CACert,
		// Each controller then acts as its own service account, so RBAC
		// denials that would hit a real cluster's controllers show up here.
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		// Port 0 turns the HTTPS endpoint off: readiness is judged by the
		// controllers' effects, and no port can then race with anyone.
		"--secure-port=0",
		"--cert-dir=" + filepath.Join(cp.dir, "kcm-certs"),
		// The default 20 QPS throttles start-up (every controller first
		// gets its own service account and token) by several seconds.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--profiling=false",
		"--v=1",
	}
	args = append(args, extra...)
	p, err := startServer("kube-controller-manager", bin, args, filepath.Join(cp.dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	cp.kcm = p
	// The serviceaccount controller creating "default" in namespace
	// "default" shows that the controllers run with working credentials;
	// Pods cannot be admitted in a namespace before its default service
	// account exists, so tests need this anyway.
	return p.waitFor(ctx, `serviceaccount "default/default"`, func(ctx context.Context) error {
		_, err := cp.client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// Stop stops all processes (controller manager first, etcd last) and
// deletes the working directory, unless RQLITE_KRM_TESTENV_KEEP=1. It is
// safe to call more than once.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		cp.stopped.Store(true)
		for _, p := range []*serverProcess{cp.kcm, cp.apiserver, cp.etcd} {
			if p != nil {
				p.stop(10 * time.Second)
			}
		}
		if os.Getenv("RQLITE_KRM_TESTENV_KEEP") == "1" {
			fmt.Fprintf(os.Stderr, "testenv: kept %s\n", cp.dir)
			return
		}
		_ = os.RemoveAll(cp.dir)
	})
}

// WriteLogTails writes the last lines of every component's log to w.
func (cp *ControlPlane) WriteLogTails(w io.Writer, lines int) {
	for _, p := range []*serverProcess{cp.etcd, cp.apiserver, cp.kcm} {
		if p != nil {
			fmt.Fprintf(w, "%s\n", p.tail(lines))
		}
	}
}

// Client returns a typed client acting as cluster admin.
func (cp *ControlPlane) Client() kubernetes.Interface { return cp.client }

// Dynamic returns a dynamic client acting as cluster admin.
func (cp *ControlPlane) Dynamic() dynamic.Interface { return cp.dynamic }

// RESTConfig returns a copy of the admin client configuration, free to modify.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// Kubeconfig returns the path of a kubeconfig file for the admin user, for
// tools run as subprocesses (kubectl, kpt live ...).
func (cp *ControlPlane) Kubeconfig() string { return cp.kubeconfig }

// Host returns the API server URL (https://127.0.0.1:<port>).
func (cp *ControlPlane) Host() string { return cp.host }

// Dir returns the control plane's working directory (logs, certificates).
func (cp *ControlPlane) Dir() string { return cp.dir }

// HasControllerManager reports whether kube-controller-manager runs.
func (cp *ControlPlane) HasControllerManager() bool { return cp.kcm != nil }

// CreateRestrictedNamespace creates a namespace that enforces the
// "restricted" Pod Security Standard and deletes it when the test ends.
// With a controller manager running it also waits for the namespace's default
// service account, without which no Pod can be admitted there.
func CreateRestrictedNamespace(t testing.TB, cp *ControlPlane, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{}
	ns.Name = name
	ns.Labels = map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}
	if _, err := cp.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testenv: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if cp.stopped.Load() { // a TestMain-owned control plane stopped first
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := cp.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("testenv: delete namespace %s: %v", name, err)
		}
	})
	if !cp.HasControllerManager() {
		return
	}
	for {
		_, err := cp.client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsNotFound(err) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("testenv: get serviceaccount %s/default: %v", name, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: serviceaccount %s/default not created within a minute", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
