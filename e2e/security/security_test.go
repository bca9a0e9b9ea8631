package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// call sends one request to a node URL as user ("" for none) and returns the status and body.
func call(t *testing.T, hc *http.Client, method, url, user, password, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxFor(t, 10*time.Second), method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// protected are requests every permission but "ready" guards (rqlite v8.43.4 http/service.go).
var protected = []struct{ method, path, body string }{
	{"GET", "/status", ""},
	{"GET", "/nodes?nonvoters&ver=2", ""},
	{"GET", "/leader", ""},
	{"POST", "/leader", `{"id":"vault-1"}`},
	{"DELETE", "/remove", `{"id":"vault-readonly-0"}`},
	{"GET", "/db/query?q=SELECT+1", ""},
	{"POST", "/db/execute", `["CREATE TABLE IF NOT EXISTS x (id INTEGER)"]`},
	{"POST", "/db/request", `["SELECT 1"]`},
	{"GET", "/db/backup", ""},
	{"GET", "/debug/vars", ""},
}

// TestSecureCluster starts 3 voters and a read-only node with the rendered node mutual TLS,
// HTTPS and auth flags and checks, in order, what each setting promises.
func TestSecureCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	sc := startSecureCluster(t, clusterOptions{voters: 3, nonVoters: 1})
	t.Logf("3 voters + 1 read-only formed over node mTLS in %s", time.Since(start).Round(time.Millisecond))
	admin := sc.client("admin", adminPassword)
	nodeSpec := sc.r.certificate(t, name+"-node").Spec

	t.Run("cluster forms over node mTLS verifying the headless name", func(t *testing.T) {
		args := sc.Node(0).Args
		// The rendered flags come after the harness's own, and rqlited keeps a flag's last value:
		// the cluster runs with the rendered users file and join user.
		assert.Equal(t, "cluster", lastFlag(args, "-join-as"))
		assert.True(t, strings.HasSuffix(lastFlag(args, "-auth"), "/rqlite/auth/users.json"), lastFlag(args, "-auth"))
		assert.Contains(t, args, "-node-verify-server-name="+name+"-headless")
		assert.Contains(t, args, "-node-verify-client")
		assert.Contains(t, sc.LogTail(0, 400), "mutual TLS enabled")

		// The certificate names no address, and every node dials its peers by loopback address:
		// the cluster formed, so rqlited verified the fixed name given by -node-verify-server-name
		// (Go's crypto/tls uses tls.Config.ServerName, set from that flag, instead of the dialled
		// host; rqlite internal/rtls.CreateClientConfigWithFunc).
		cert := parseCert(t, sc.nodeSecret()["tls.crt"])
		assert.Empty(t, cert.IPAddresses)
		assert.Equal(t, nodeSpec.DNSNames, cert.DNSNames)
		assert.Contains(t, cert.DNSNames, name+"-headless")
		assert.NotContains(t, strings.Join(args, " "), "-raft-adv-addr=vault", "Raft is advertised by address here")

		nodes, err := admin.Nodes(ctxFor(t, 10*time.Second))
		require.NoError(t, err)
		require.Len(t, nodes, 4)
		for _, n := range nodes {
			assert.True(t, n.Reachable, "%s: %s", n.ID, n.Error)
			headless := name + "-headless"
			if !n.Voter {
				headless = name + "-readonly-headless"
			}
			assert.Equal(t, "https://"+n.ID+"."+headless+"."+namespace+".svc.cluster.local:4001", n.APIAddr)
		}
	})

	t.Run("Raft port refuses a peer without a client certificate", func(t *testing.T) {
		conn, err := tls.Dial("tcp", sc.Node(1).RaftAddr, &tls.Config{RootCAs: sc.nodeCA.pool(), ServerName: name + "-headless"})
		require.NoError(t, err, "the server side verifies with the node CA under the headless name")
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte{1})
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate required")
	})

	t.Run("node with a certificate from another CA cannot join", func(t *testing.T) {
		// Same names, usages and key type, signed by another CA. The rogue trusts the real CA too,
		// so only the cluster's -node-verify-client stands in its way.
		rogueCA := newCA(t, "rogue-ca")
		rogue := rogueCA.issue(t, nodeSpec)
		dir := t.TempDir()
		files := map[string][]byte{
			"tls.crt": rogue["tls.crt"], "tls.key": rogue["tls.key"],
			"ca.crt": append(append([]byte{}, sc.nodeCA.pem...), rogueCA.pem...),
		}
		for f, b := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
		}
		i := sc.AddNode(testenv.AddNodeOptions{NonVoter: true, NoWait: true, ExtraArgs: []string{
			"-node-cert=" + filepath.Join(dir, "tls.crt"),
			"-node-key=" + filepath.Join(dir, "tls.key"),
			"-node-ca-cert=" + filepath.Join(dir, "ca.crt"),
		}})
		defer sc.Kill(i)
		id := sc.Node(i).ID
		// Two join rounds (the DNS bootstrapper retries about every second) refused by every
		// voter's TLS layer.
		waitLog(t, sc, i, "failed to join cluster at", 2, 15*time.Second)
		assert.Contains(t, sc.LogTail(i, 100), "remote error: tls: unknown certificate authority")
		seen := 0
		for v := range 3 {
			if strings.Contains(sc.LogTail(v, 400), "cannot read header byte: tls: failed to verify certificate: x509: certificate signed by unknown authority") {
				seen++
			}
		}
		assert.Positive(t, seen, "a voter logs that it refused the rogue's client certificate")
		assertNotMember(t, admin, id)
	})

	t.Run("node verifying another server name cannot join", func(t *testing.T) {
		// The converse of the first subtest: with a name the certificate does not carry, the same
		// node with the same certificate fails verification.
		i := sc.AddNode(testenv.AddNodeOptions{NonVoter: true, NoWait: true, ExtraArgs: []string{
			"-node-verify-server-name=not-" + name + "-headless",
		}})
		defer sc.Kill(i)
		waitLog(t, sc, i, "failed to join cluster at", 2, 15*time.Second)
		assert.Contains(t, sc.LogTail(i, 100), "x509: certificate is valid for "+strings.Join(nodeSpec.DNSNames, ", ")+", not not-"+name+"-headless")
		assertNotMember(t, admin, sc.Node(i).ID)
	})

	t.Run("HTTPS API verifies with the client CA only", func(t *testing.T) {
		url := sc.Node(0).URL + "/readyz"
		_, err := sc.res.httpClient(&tls.Config{}).Get(url)
		require.Error(t, err, "system roots do not know the cluster CA")
		assert.Contains(t, err.Error(), "certificate signed by unknown authority")
		_, err = sc.res.httpClient(&tls.Config{RootCAs: sc.nodeCA.pool()}).Get(url)
		require.Error(t, err, "the node CA does not sign the API certificate")

		plain := "http://" + strings.TrimPrefix(sc.Node(0).URL, "https://")
		code, _ := call(t, sc.res.httpClient(nil), "GET", plain+"/readyz", "", "", "")
		assert.Equal(t, http.StatusBadRequest, code, "plain HTTP to the HTTPS port")

		// The client Service name, which the shrink Job uses, is in the certificate too.
		svc := rqlite.MustNew(rqlite.Options{URLs: []string{"https://" + name + ":4001"}, Username: "admin", Password: adminPassword,
			HTTPClient: sc.httpClient(sc.clientSecret())})
		st, err := svc.Status(ctxFor(t, 10*time.Second))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(st.NodeID, name+"-"), st.NodeID)
	})

	hc := sc.httpClient(sc.clientSecret())
	t.Run("no or wrong credentials get 401", func(t *testing.T) {
		for _, r := range protected {
			code, body := call(t, hc, r.method, sc.Node(0).URL+r.path, "", "", r.body)
			assert.Equal(t, http.StatusUnauthorized, code, "anonymous %s %s: %s", r.method, r.path, body)
			code, _ = call(t, hc, r.method, sc.Node(0).URL+r.path, "admin", "wrong", r.body)
			assert.Equal(t, http.StatusUnauthorized, code, "wrong password %s %s", r.method, r.path)
		}
	})

	t.Run("anonymous user runs the rendered probes and nothing else", func(t *testing.T) {
		for _, voter := range []bool{true, false} {
			sts := sc.statefulSet(t, voter)
			c := container(t, &sts.Spec.Template.Spec, "rqlite")
			for _, p := range []struct {
				what string
				get  string
			}{{"startup", c.StartupProbe.HTTPGet.Path}, {"liveness", c.LivenessProbe.HTTPGet.Path}, {"readiness", c.ReadinessProbe.HTTPGet.Path}} {
				for i := range sc.Len() {
					n := sc.Node(i)
					if n.Voter != voter || !n.Running() || !isMember(t, admin, n.ID) {
						continue
					}
					// The kubelet does not verify the serving certificate and sends no credentials.
					code, body := call(t, sc.res.httpClient(&tls.Config{InsecureSkipVerify: true}), "GET", n.URL+p.get, "", "", "")
					assert.Equal(t, http.StatusOK, code, "%s probe %s on %s: %s", p.what, p.get, n.ID, body)
				}
			}
			assert.Equal(t, "HTTPS", string(c.ReadinessProbe.HTTPGet.Scheme))
		}
	})

	t.Run("join user joins and reads nothing", func(t *testing.T) {
		assert.True(t, isMember(t, admin, name+"-readonly-0"), "the read-only node joined with -join-as=cluster (join-read-only)")
		for _, r := range protected {
			if r.path == "/remove" {
				continue // the join user holds remove: read-only nodes remove themselves with it
			}
			code, _ := call(t, hc, r.method, sc.Node(0).URL+r.path, "cluster", joinPassword, r.body)
			assert.Equal(t, http.StatusUnauthorized, code, "join user %s %s", r.method, r.path)
		}
	})

	t.Run("shrink user lists, moves leadership, removes and cannot touch data", func(t *testing.T) {
		op := sc.client("operator", operatorPassword)
		ctx := ctxFor(t, 60*time.Second)
		nodes, err := op.Nodes(ctx)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(nodes), 4)
		leader := sc.LeaderIndex()
		to := sc.Node((leader + 1) % 3).ID
		require.NoError(t, op.TransferLeadership(ctx, to))
		assert.Equal(t, to, sc.Node(sc.LeaderIndex()).ID)

		_, err = op.Execute(ctx, rqlite.Stmt("CREATE TABLE t (id INTEGER)"))
		assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(err), "execute: %v", err)
		_, err = op.Query(ctx, "", "SELECT 1")
		assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(err), "query: %v", err)
		code, _ := call(t, hc, "GET", sc.Node(0).URL+"/db/backup", "operator", operatorPassword, "")
		assert.Equal(t, http.StatusUnauthorized, code, "backup")

		was, err := op.RemoveAndConfirm(ctx, name+"-readonly-0")
		require.NoError(t, err)
		assert.True(t, was)
		assertEventuallyNotMember(t, admin, name+"-readonly-0")
	})

	t.Run("read-only node removes itself on shutdown with the join user", func(t *testing.T) {
		i := sc.AddNode(testenv.AddNodeOptions{NonVoter: true})
		id := sc.Node(i).ID
		require.True(t, isMember(t, admin, id))
		require.NoError(t, sc.Stop(i), "exit status of a read-only node's shutdown")
		assert.Contains(t, sc.LogTail(i, 30), "removed this node successfully from cluster before shutdown")
		// The removal is committed, but admin asks whichever node it last
		// reached: a follower outside the committing majority learns of it on
		// the leader's next append.
		assertEventuallyNotMember(t, admin, id)
	})
}

// TestJoinUserWithoutRemoveStrandsReadOnlyNodes pins why the join user needs "remove": rqlited
// v8.43.4 removes a -raft-cluster-remove-shutdown node with the -join-as credentials
// (cmd/rqlited/main.go), and the leader checks the remove permission (cluster/service.go). With
// only join and join-read-only, a scaled-down read-only pod exits 1 and stays a member.
func TestJoinUserWithoutRemoveStrandsReadOnlyNodes(t *testing.T) {
	t.Parallel()
	users := strings.Replace(usersFile, `"perms": ["join", "join-read-only", "remove"]`, `"perms": ["join", "join-read-only"]`, 1)
	require.NotEqual(t, usersFile, users)
	sc := startSecureCluster(t, clusterOptions{voters: 1, nonVoters: 1, users: users})
	admin := sc.client("admin", adminPassword)
	err := sc.Stop(1)
	require.Error(t, err, "the read-only node cannot remove itself")
	assert.Contains(t, sc.LogTail(1, 30), "failed to remove this node from cluster before shutdown")
	assert.True(t, isMember(t, admin, name+"-readonly-0"), "the stopped node stays in the configuration")
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c
}

func isMember(t *testing.T, c *rqlite.Client, id string) bool {
	t.Helper()
	nodes, err := c.Nodes(ctxFor(t, 10*time.Second))
	require.NoError(t, err)
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

func assertNotMember(t *testing.T, c *rqlite.Client, id string) {
	t.Helper()
	assert.False(t, isMember(t, c, id), "%s must not be a member", id)
}

// assertEventuallyNotMember waits until c's node no longer lists id: after a
// removal only the leader's view (and the majority's) changes at once.
func assertEventuallyNotMember(t *testing.T, c *rqlite.Client, id string) {
	t.Helper()
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nodes, err := c.Nodes(ctx)
		if assert.NoError(ct, err) {
			assert.False(ct, slices.ContainsFunc(nodes, func(n rqlite.Node) bool { return n.ID == id }), "%s must not be a member", id)
		}
	}, 10*time.Second, 50*time.Millisecond)
}

// waitLog waits until node i's log contains s at least n times.
func waitLog(t *testing.T, sc *secureCluster, i int, s string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Count(sc.LogTail(i, 1000), s) >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("node %s log has %q fewer than %d times within %s:\n%s", sc.Node(i).ID, s, n, d, sc.LogTail(i, 30))
}

// TestUsersFileEntryInheritsOmittedPerms pins a trap of rqlited v8.43.4's users file:
// auth.CredentialsStore.Load decodes every entry into one reused struct, so an entry without
// "perms" inherits the previous entry's. docs/security.md tells users to give every entry its
// own perms list.
func TestUsersFileEntryInheritsOmittedPerms(t *testing.T) {
	t.Parallel()
	users := strings.Replace(usersFile, "]\n", `,
  {"username": "auditor", "password": "a-pw", "perms": ["status"]},
  {"username": "intern", "password": "i-pw"}
]
`, 1)
	sc := startSecureCluster(t, clusterOptions{voters: 1, users: users})
	hc := sc.httpClient(sc.clientSecret())
	code, _ := call(t, hc, "GET", sc.Node(0).URL+"/status", "intern", "i-pw", "")
	assert.Equal(t, http.StatusOK, code, "intern has no perms of its own but reads /status with the auditor's")
	code, _ = call(t, hc, "GET", sc.Node(0).URL+"/db/query?q=SELECT+1", "intern", "i-pw", "")
	assert.Equal(t, http.StatusUnauthorized, code)
}

// lastFlag is the value rqlited uses for a flag given several times, as -f=v or -f v.
func lastFlag(args []string, f string) string {
	v := ""
	for i, a := range args {
		if x, ok := strings.CutPrefix(a, f+"="); ok {
			v = x
		} else if a == f && i+1 < len(args) {
			v = args[i+1]
		}
	}
	return v
}
