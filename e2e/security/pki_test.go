package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/stretchr/testify/require"
)

// testCA stands in for the cert-manager Issuer a user points spec.tls.*.certManager.issuerRef at.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	require.NoError(t, err)
	return n
}

// keyUsages maps cert-manager's usage names to x509's.
var keyUsages = map[string]x509.KeyUsage{
	"digital signature": x509.KeyUsageDigitalSignature,
	"key encipherment":  x509.KeyUsageKeyEncipherment,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"server auth": x509.ExtKeyUsageServerAuth,
	"client auth": x509.ExtKeyUsageClientAuth,
}

// issue signs what cert-manager would issue for the rendered Certificate: its common name, exactly
// its DNS names (no IP addresses, so a node can only be verified by name), its usages, an ECDSA
// P-256 key. It returns the three keys of the kubernetes.io/tls Secret cert-manager writes.
func (ca *testCA) issue(t *testing.T, spec render.CertificateSpec) map[string][]byte {
	t.Helper()
	require.Equal(t, "ECDSA", spec.PrivateKey.Algorithm)
	require.Equal(t, 256, spec.PrivateKey.Size)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: spec.CommonName},
		DNSNames:     spec.DNSNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	for _, u := range spec.Usages {
		if ku, ok := keyUsages[u]; ok {
			tmpl.KeyUsage |= ku
			continue
		}
		eku, ok := extKeyUsages[u]
		require.True(t, ok, "usage %q unknown to the test CA", u)
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, eku)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":  ca.pem,
	}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}
