package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pkiFiles are the key material one control plane needs. Everything is made
// fresh per control plane so that nothing secret lives in the repository and
// no two test runs can talk to each other's servers by accident.
type pkiFiles struct {
	CACert        string // CA that signed the serving cert; also --root-ca-file
	CAPEM         []byte
	ServingCert   string
	ServingKey    string
	SAPrivateKey  string // signs service-account tokens
	SAPublicKey   string // verifies them
	AdminToken    string
	NodeToken     string // the kubelet's identity, system:node:<NodeName> (Node authorizer)
	TokenAuthFile string
}

func writePKI(dir string) (*pkiFiles, error) {
	// ECDSA P-256 throughout: generating RSA keys is slow enough to notice on
	// a 2-core CI machine, and every component accepts EC keys.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// Back-dated so that a clock that is slightly behind (VMs) does not
	// reject the certificates as not yet valid.
	notBefore := time.Now().Add(-time.Hour)
	notAfter := time.Now().Add(7 * 24 * time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rqlite-krm testenv CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	servingTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// The in-cluster names and the first service IP are what the
		// apiserver advertises in the "kubernetes" Service; clients inside
		// tests only ever use 127.0.0.1.
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
	}
	servingDER, err := x509.CreateCertificate(rand.Reader, servingTmpl, caCert, &servingKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}

	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, err
	}
	nodeTokenBytes := make([]byte, 24)
	if _, err := rand.Read(nodeTokenBytes); err != nil {
		return nil, err
	}

	f := &pkiFiles{
		CACert:        filepath.Join(dir, "ca.crt"),
		CAPEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		ServingCert:   filepath.Join(dir, "apiserver.crt"),
		ServingKey:    filepath.Join(dir, "apiserver.key"),
		SAPrivateKey:  filepath.Join(dir, "sa.key"),
		SAPublicKey:   filepath.Join(dir, "sa.pub"),
		AdminToken:    fmt.Sprintf("%x", tokenBytes),
		NodeToken:     fmt.Sprintf("%x", nodeTokenBytes),
		TokenAuthFile: filepath.Join(dir, "tokens.csv"),
	}
	servingKeyPEM, err := ecKeyPEM(servingKey)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := ecKeyPEM(saKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		f.CACert:       f.CAPEM,
		f.ServingCert:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: servingDER}),
		f.ServingKey:   servingKeyPEM,
		f.SAPrivateKey: saKeyPEM,
		f.SAPublicKey:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		// Format: token,user,uid,"group,...". system:masters bypasses RBAC,
		// which is what a test harness acting as cluster admin wants.
		// The node's token: the Node authorizer and NodeRestriction know
		// a kubelet by this user name and group.
		f.TokenAuthFile: fmt.Appendf(nil, "%s,%s,%s,\"system:masters\"\n%s,system:node:%s,system:node:%s,\"system:nodes\"\n",
			f.AdminToken, adminUser, adminUser, f.NodeToken, NodeName, NodeName),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
