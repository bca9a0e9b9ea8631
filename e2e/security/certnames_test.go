package security

import (
	"net"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialledNames are the host names peers and clients dial, taken from the render: each pool's
// advertised HTTP and Raft addresses of pod 0 (as the kubelet expands them in namespace ns), the
// -node-verify-server-name, the client Services and the shrink Job's --rqlite-url.
func dialledNames(t *testing.T, r *rendered, ns string) (node, client []string) {
	t.Helper()
	for _, sts := range []string{name, name + "-readonly"} {
		c := container(t, &r.statefulSet(t, sts).Spec.Template.Spec, "rqlite")
		env := map[string]string{"POD_NAME": sts + "-0", "POD_NAMESPACE": ns}
		for _, a := range c.Args {
			f, v, _ := strings.Cut(a, "=")
			for k, val := range env {
				v = strings.ReplaceAll(v, "$("+k+")", val)
			}
			switch f {
			case "-http-adv-addr":
				host, _, err := net.SplitHostPort(v)
				require.NoError(t, err)
				client = append(client, host)
			case "-raft-adv-addr":
				host, _, err := net.SplitHostPort(v)
				require.NoError(t, err)
				node = append(node, host)
			case "-node-verify-server-name":
				node = append(node, v)
			}
		}
		// Each pool's client Service has the StatefulSet's name (README, "What you get").
		client = append(client, sts)
	}
	for _, a := range r.shrinkJob(t).Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--rqlite-url=https://"); ok {
			host, _, err := net.SplitHostPort(v)
			require.NoError(t, err)
			client = append(client, host)
		}
	}
	return node, client
}

// TestCertificatesCoverDialledNames issues certificates from the rendered Certificates and checks
// every name the render makes something dial against them with crypto/x509's hostname matching.
func TestCertificatesCoverDialledNames(t *testing.T) {
	ca := newCA(t, "ca")
	doc := strings.Replace(specDoc(3, false), "spec:\n", "spec:\n  clusterDomain: corp.internal\n", 1)
	r := renderSpec(t, doc)
	node, client := dialledNames(t, r, namespace)
	require.Contains(t, client, "vault-0.vault-headless.secure.svc.corp.internal")
	nodeCert := parseCert(t, ca.issue(t, r.certificate(t, name+"-node").Spec)["tls.crt"])
	clientCert := parseCert(t, ca.issue(t, r.certificate(t, name+"-client").Spec)["tls.crt"])
	for _, h := range node {
		assert.NoError(t, nodeCert.VerifyHostname(h), "node certificate for %s", h)
	}
	for _, h := range client {
		assert.NoError(t, clientCert.VerifyHostname(h), "client certificate for %s", h)
	}

	t.Run("without a namespace a client certificate is refused", func(t *testing.T) {
		// Clients that follow leader redirects, and the shrink Job (which confirms leadership
		// transfers at each node's advertised address), dial fully qualified names that a
		// certificate rendered without the namespace cannot name: the spec is an error, not a
		// render that fails TLS verification later.
		noNS := strings.Replace(doc, "  namespace: secure\n", "", 1)
		res := generate.FromYAML([]byte(noNS))
		require.True(t, res.Problems.HasErrors(), "%v", res.Problems)
		assert.Nil(t, res.Objects)
		var found bool
		for _, p := range res.Problems {
			if p.Path == "spec.tls.client.certManager" && !p.Warning {
				found = true
			}
		}
		assert.True(t, found, "%v", res.Problems)
	})
}
