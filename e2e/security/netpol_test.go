package security

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestBackupEgressReachesTheEndpoint checks that the rqlite pods' NetworkPolicy lets backups out
// on the port the S3 endpoint implies: its explicit port, else 80 for http and 443 for https (or
// no scheme: rqlite v8.43.4 prefixes https://, auto/aws/s3.go).
func TestBackupEgressReachesTheEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		port     int32
	}{
		{"", 443},
		{"https://s3.eu-central-1.example.com", 443},
		{"http://minio.storage.svc:9000", 9000},
		{"minio.storage.svc:9000", 9000},
		{"http://minio.storage.svc", 80},
	} {
		t.Run(fmt.Sprintf("endpoint %q", tc.endpoint), func(t *testing.T) {
			endpoint := ""
			if tc.endpoint != "" {
				endpoint = fmt.Sprintf("\n      endpoint: %q", tc.endpoint)
			}
			r := renderSpec(t, fmt.Sprintf(`apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata: {name: %s, namespace: %s}
spec:
  backup:
    s3:
      bucket: b
      path: p.sqlite.gz
      region: r%s
`, name, namespace, endpoint))
			np := find[*networkingv1.NetworkPolicy](t, r, name)
			var ports []int32
			for _, e := range np.Spec.Egress {
				if len(e.To) > 0 {
					continue // rules naming peers are the cluster's own pods
				}
				for _, p := range e.Ports {
					if p.Port != nil && p.Port.IntVal != 53 {
						ports = append(ports, p.Port.IntVal)
					}
				}
			}
			assert.Contains(t, ports, tc.port, "egress ports %v", ports)
		})
	}
}
