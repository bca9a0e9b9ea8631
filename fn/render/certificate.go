package render

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Certificate is the part of cert-manager's Certificate (cert-manager.io/v1) the function renders.
// cert-manager's Go module would pull its whole controller tree into the binary for one struct.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CertificateSpec `json:"spec"`
}

// CertificateSpec is the subset of cert-manager's CertificateSpec in use.
type CertificateSpec struct {
	SecretName  string            `json:"secretName"`
	CommonName  string            `json:"commonName,omitempty"`
	DNSNames    []string          `json:"dnsNames"`
	Duration    string            `json:"duration,omitempty"`
	RenewBefore string            `json:"renewBefore,omitempty"`
	Usages      []string          `json:"usages"`
	PrivateKey  *CertificateKey   `json:"privateKey,omitempty"`
	IssuerRef   CertificateIssuer `json:"issuerRef"`
}

// CertificateKey configures the private key; rotation on renewal limits a leaked key's use.
type CertificateKey struct {
	Algorithm      string `json:"algorithm"`
	Size           int    `json:"size"`
	RotationPolicy string `json:"rotationPolicy"`
}

// CertificateIssuer references the issuer.
type CertificateIssuer struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Group string `json:"group"`
}

// DeepCopyObject makes Certificate a runtime.Object; the renderer never mutates it after creation.
func (c *Certificate) DeepCopyObject() runtime.Object {
	out := *c
	out.Spec.DNSNames = append([]string(nil), c.Spec.DNSNames...)
	out.Spec.Usages = append([]string(nil), c.Spec.Usages...)
	return &out
}

// certificates renders one Certificate per TLS side that asks for cert-manager.
func certificates(c *model.Cluster) []Object {
	t := c.Spec.Spec.TLS
	if t == nil {
		return nil
	}
	var out []Object
	for _, side := range []struct {
		name string
		cfg  *v1alpha1.TLSConfig
	}{{"node", t.Node}, {"client", t.Client}} {
		if side.cfg == nil || side.cfg.CertManager == nil {
			continue
		}
		cm := side.cfg.CertManager
		out = append(out, &Certificate{
			TypeMeta:   metav1.TypeMeta{APIVersion: "cert-manager.io/v1", Kind: "Certificate"},
			ObjectMeta: meta(c, fmt.Sprintf("%s-%s", c.Name, side.name), ""),
			Spec: CertificateSpec{
				SecretName:  side.cfg.SecretName,
				CommonName:  c.Voters.Headless,
				DNSNames:    dnsNames(c),
				Duration:    cm.Duration,
				RenewBefore: cm.RenewBefore,
				// Nodes are servers and clients of each other; the shrink Job uses the client
				// certificate to reach an API that verifies clients.
				Usages:     []string{"digital signature", "key encipherment", "server auth", "client auth"},
				PrivateKey: &CertificateKey{Algorithm: "ECDSA", Size: 256, RotationPolicy: "Always"},
				IssuerRef:  CertificateIssuer{Name: cm.IssuerRef.Name, Kind: cm.IssuerRef.Kind, Group: cm.IssuerRef.Group},
			},
		})
	}
	return out
}

// dnsNames covers every name a node or client dials: the Services, each pod under its headless
// Service in the namespace-relative form (Raft addresses) and, when the namespace is known, the
// fully qualified forms (advertised HTTP addresses, clients in other namespaces).
func dnsNames(c *model.Cluster) []string {
	domain := c.Spec.Spec.ClusterDomain
	var names []string
	for _, p := range c.Pools() {
		names = append(names, p.Client, p.Headless, "*."+p.Headless)
		if c.Namespace != "" {
			for _, svc := range []string{p.Client, p.Headless} {
				names = append(names, svc+"."+c.Namespace+".svc", svc+"."+c.Namespace+".svc."+domain)
			}
			names = append(names, "*."+p.Headless+"."+c.Namespace+".svc", "*."+p.Headless+"."+c.Namespace+".svc."+domain)
		}
	}
	return names
}
