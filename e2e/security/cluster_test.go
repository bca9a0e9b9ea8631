package security

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/e2e/security/fakekubelet"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

const (
	namespace = "secure"
	name      = "vault"
)

// specDoc is the spec every test renders: node mutual TLS and an HTTPS API from cert-manager
// Certificates, authentication with a join user and a shrink user.
func specDoc(voters int, clientMTLS bool) string {
	return fmt.Sprintf(`apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: %s
  namespace: %s
spec:
  voters:
    replicas: %d
  readOnly:
    replicas: 1
  tls:
    node:
      certManager:
        issuerRef: {name: node-ca, kind: ClusterIssuer}
      verifyClient: true
    client:
      certManager:
        issuerRef: {name: client-ca, kind: ClusterIssuer}
      verifyClient: %v
  auth:
    usersSecret:
      name: vault-users
    joinAs: cluster
    shrinkUser:
      username: operator
      passwordSecret:
        name: vault-operator
`, name, namespace, voters, clientMTLS)
}

// Passwords of the users file. Test-only values: every run's rqlited listens on loopback only.
const (
	joinPassword     = "join-pw-5f1e"
	operatorPassword = "operator-pw-9c2a"
	adminPassword    = "admin-pw-77d0"
)

// usersFile is the users Secret docs/security.md tells users to write: the anonymous user "*" may
// only read readiness (kubelet probes carry no credentials), the join user may join as voter or
// read-only node and remove (a read-only node removes itself on shutdown with the -join-as
// credentials), the shrink Job's user may list, move leadership and remove, and an operator user
// holds everything else.
var usersFile = fmt.Sprintf(`[
  {"username": "*", "perms": ["ready"]},
  {"username": "cluster", "password": %q, "perms": ["join", "join-read-only", "remove"]},
  {"username": "operator", "password": %q, "perms": ["remove", "status", "leader-ops"]},
  {"username": "admin", "password": %q, "perms": ["all"]}
]
`, joinPassword, operatorPassword, adminPassword)

// secureCluster is a running cluster started from a render, and what it was started from.
type secureCluster struct {
	*testenv.RqliteCluster
	r          *rendered
	res        *resolver
	nodeCA     *testCA
	clientCA   *testCA
	kubelet    *fakekubelet.Kubelet
	clientMTLS bool

	mu   sync.Mutex
	pods map[string]fakekubelet.Container
}

type clusterOptions struct {
	voters, nonVoters int
	clientMTLS        bool
	users             string // users.json; default usersFile
}

func startSecureCluster(t *testing.T, o clusterOptions) *secureCluster {
	t.Helper()
	if o.users == "" {
		o.users = usersFile
	}
	r := renderSpec(t, specDoc(o.voters, o.clientMTLS))
	sc := &secureCluster{
		r:          r,
		res:        newResolver(),
		nodeCA:     newCA(t, "node-ca"),
		clientCA:   newCA(t, "client-ca"),
		clientMTLS: o.clientMTLS,
		pods:       map[string]fakekubelet.Container{},
	}
	nodeCert := r.certificate(t, name+"-node")
	clientCert := r.certificate(t, name+"-client")
	sc.kubelet = &fakekubelet.Kubelet{
		Dir:       t.TempDir(),
		Namespace: namespace,
		Secrets: map[string]map[string][]byte{
			nodeCert.Spec.SecretName:   sc.nodeCA.issue(t, nodeCert.Spec),
			clientCert.Spec.SecretName: sc.clientCA.issue(t, clientCert.Spec),
			"vault-users":              {"users.json": []byte(o.users)},
			"vault-operator":           {"password": []byte(operatorPassword)},
		},
		ConfigMaps: map[string]map[string]string{name + "-config": r.configMap(t, name+"-config").Data},
	}
	sc.RqliteCluster = testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{
		Voters:           o.voters,
		NonVoters:        o.nonVoters,
		Discovery:        true,
		VoterIDPrefix:    name + "-",
		NonVoterIDPrefix: name + "-readonly-",
		// The harness's own clients act as the admin user of the users Secret; the rendered
		// -auth and -join-as (NodeArgs, later on the command line) replace the harness's.
		Username:   "admin",
		Password:   adminPassword,
		HTTPS:      true,
		HTTPClient: sc.httpClient(sc.clientSecret()),
		URLHost: func(n *testenv.RqliteNode) string {
			return sc.podHost(t, n)
		},
		NodeArgs: func(n *testenv.RqliteNode) []string {
			return sc.nodeArgs(t, n)
		},
		NodeEnv: func(n *testenv.RqliteNode) []string {
			return sc.pod(t, n).Env
		},
		StartTimeout: 30 * time.Second,
	})
	return sc
}

func (sc *secureCluster) statefulSet(t *testing.T, voter bool) *appsv1.StatefulSet {
	t.Helper()
	if voter {
		return sc.r.statefulSet(t, name)
	}
	return sc.r.statefulSet(t, name+"-readonly")
}

// pod prepares node n's rqlite container once, as the kubelet would for pod n.ID.
func (sc *secureCluster) pod(t *testing.T, n *testenv.RqliteNode) fakekubelet.Container {
	t.Helper()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if p, ok := sc.pods[n.ID]; ok {
		return p
	}
	sts := sc.statefulSet(t, n.Voter)
	p := sc.kubelet.Prepare(t, n.ID, &sts.Spec.Template, sts.Spec.VolumeClaimTemplates, "rqlite")
	sc.pods[n.ID] = p
	return p
}

// droppedFlags are the rendered flags the harness must replace: rqlited binds to the node's
// loopback address instead of 0.0.0.0 (several nodes share one machine), and Raft peers are
// dialled by address because rqlited cannot resolve pod names here. The advertised HTTP address
// stays the rendered pod DNS name.
var droppedFlags = []string{"-http-addr", "-raft-addr", "-raft-adv-addr"}

// nodeArgs are the rendered args of the node's pod, minus droppedFlags and the data directory
// (the harness appends its own last).
func (sc *secureCluster) nodeArgs(t *testing.T, n *testenv.RqliteNode) []string {
	t.Helper()
	p := sc.pod(t, n)
	args := p.Args
	require.NotEmpty(t, args)
	require.True(t, strings.HasSuffix(args[len(args)-1], "/rqlite/file/data"), "the data directory comes last: %q", args)
	args = args[:len(args)-1]
	var out []string
	dropped := map[string]bool{}
	for _, a := range args {
		flagName, _, _ := strings.Cut(a, "=")
		if slices.Contains(droppedFlags, flagName) {
			dropped[flagName] = true
			continue
		}
		out = append(out, a)
	}
	require.Len(t, dropped, len(droppedFlags), "the render's address flags changed: %q", args)
	return out
}

// podHost is the host of the node's rendered -http-adv-addr (its pod DNS name). It registers that
// name and the pool's client Service name with the resolver.
func (sc *secureCluster) podHost(t *testing.T, n *testenv.RqliteNode) string {
	t.Helper()
	ip, _, err := net.SplitHostPort(n.HTTPAddr)
	require.NoError(t, err)
	var adv string
	for _, a := range sc.pod(t, n).Args {
		if v, ok := strings.CutPrefix(a, "-http-adv-addr="); ok {
			adv = v
		}
	}
	host, _, err := net.SplitHostPort(adv)
	require.NoError(t, err, "rendered -http-adv-addr %q", adv)
	sc.res.add(host, ip)
	svc := name
	if !n.Voter {
		svc = name + "-readonly"
	}
	sc.res.add(svc, ip)
	return host
}

// clientSecret is the client Certificate's Secret: the HTTPS serving certificate, which the shrink
// Job also presents as its client certificate when the API verifies clients.
func (sc *secureCluster) clientSecret() map[string][]byte {
	return sc.kubelet.Secrets[name+"-client-tls"]
}

func (sc *secureCluster) nodeSecret() map[string][]byte {
	return sc.kubelet.Secrets[name+"-node-tls"]
}

// httpClient trusts the client CA and, when the API verifies clients, presents the given key pair
// (nil: none).
func (sc *secureCluster) httpClient(keyPair map[string][]byte) *http.Client {
	cfg := &tls.Config{RootCAs: sc.clientCA.pool(), MinVersion: tls.VersionTLS12}
	if keyPair != nil && sc.clientMTLS {
		c, err := tls.X509KeyPair(keyPair["tls.crt"], keyPair["tls.key"])
		if err != nil {
			panic(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return sc.res.httpClient(cfg)
}

// client is an rqlite client of the whole cluster (by pod names) as the given user ("" for
// anonymous).
func (sc *secureCluster) client(user, password string) *rqlite.Client {
	var urls []string
	for i := range sc.Len() {
		if n := sc.Node(i); n.Running() {
			urls = append(urls, n.URL)
		}
	}
	return rqlite.MustNew(rqlite.Options{
		URLs: urls, Username: user, Password: password, Timeout: 10 * time.Second,
		HTTPClient: sc.httpClient(sc.clientSecret()),
	})
}
