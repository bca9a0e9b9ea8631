package testenv

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as a ServiceAccount with a real
// token from the TokenRequest API, so what runs with it has exactly that account's RBAC.
func (cp *ControlPlane) ServiceAccountKubeconfig(t testing.TB, ns, sa string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp := int64(600)
	tok, err := cp.Client().CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: token for %s/%s: %v", ns, sa, err)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: sa
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: sa
  context: {cluster: test, user: sa}
users:
- name: sa
  user:
    token: %s
`, cp.Host(), base64.StdEncoding.EncodeToString(cp.RESTConfig().CAData), tok.Status.Token)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return path
}
