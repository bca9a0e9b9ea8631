// Package kube is the few Kubernetes API calls the shrink Job makes, over plain HTTPS with the
// typed k8s.io/api structs. client-go would add about 12 MB to a binary that every kustomize build
// starts; these five calls do not need its caches, informers or codecs.
package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ServiceAccountDir is where the kubelet mounts a pod's token and CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Client talks to one API server.
type Client struct {
	base string
	http *http.Client
	// token returns the bearer token for each request; projected tokens rotate, so the in-cluster
	// client re-reads the file instead of caching it for the Job's whole life.
	token func() (string, error)
}

// APIError is a non-2xx answer from the API server.
type APIError struct {
	Method, URL string
	Status      int
	Message     string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, e.Message)
}

// IsNotFound reports whether err is the API server's 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsForbidden reports whether err is the API server's 403 (missing RBAC).
func IsForbidden(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusForbidden
}

// InCluster builds a client from the pod's service account, as the kubelet mounts it.
func InCluster() (*Client, error) {
	return inCluster(ServiceAccountDir, os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
}

func inCluster(dir, host, port string) (*Client, error) {
	if host == "" || port == "" {
		return nil, errors.New("not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set (use --kubeconfig)")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading the service account CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", filepath.Join(dir, "ca.crt"))
	}
	tokenFile := filepath.Join(dir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, fmt.Errorf("service account token: %w (is automountServiceAccountToken false?)", err)
	}
	var mu sync.Mutex
	var cached string
	var readAt time.Time
	token := func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached == "" || time.Since(readAt) > time.Minute {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return "", fmt.Errorf("reading the service account token: %w", err)
			}
			cached, readAt = strings.TrimSpace(string(b)), time.Now()
		}
		return cached, nil
	}
	return &Client{
		base:  "https://" + net.JoinHostPort(host, port),
		http:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		token: token,
	}, nil
}

type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			CertificateAuthority     string `json:"certificate-authority"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
		} `json:"cluster"`
	} `json:"clusters"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string `json:"token"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKeyData         string `json:"client-key-data"`
		} `json:"user"`
	} `json:"users"`
}

// FromKubeconfig builds a client from a kubeconfig's current context, for running the shrink
// workflow from a workstation. It supports the common static credentials (token, client
// certificate); exec plugins are out of scope.
func FromKubeconfig(path string) (*Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return nil, fmt.Errorf("parsing kubeconfig %s: %w", path, err)
	}
	ctxName := kc.CurrentContext
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == ctxName || ctxName == "" {
			clusterName, userName = c.Context.Cluster, c.Context.User
			break
		}
	}
	if clusterName == "" {
		return nil, fmt.Errorf("kubeconfig %s: no context %q", path, ctxName)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	c := &Client{token: func() (string, error) { return "", nil }}
	for _, cl := range kc.Clusters {
		if cl.Name != clusterName {
			continue
		}
		c.base = strings.TrimRight(cl.Cluster.Server, "/")
		var ca []byte
		switch {
		case cl.Cluster.CertificateAuthorityData != "":
			if ca, err = base64.StdEncoding.DecodeString(cl.Cluster.CertificateAuthorityData); err != nil {
				return nil, fmt.Errorf("kubeconfig CA data: %w", err)
			}
		case cl.Cluster.CertificateAuthority != "":
			if ca, err = os.ReadFile(cl.Cluster.CertificateAuthority); err != nil {
				return nil, fmt.Errorf("kubeconfig CA: %w", err)
			}
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			tlsCfg.RootCAs = pool
		}
		tlsCfg.InsecureSkipVerify = cl.Cluster.InsecureSkipTLSVerify
	}
	if c.base == "" {
		return nil, fmt.Errorf("kubeconfig %s: no cluster %q", path, clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		if tok := u.User.Token; tok != "" {
			c.token = func() (string, error) { return tok, nil }
		}
		if u.User.ClientCertificateData != "" {
			certPEM, err1 := base64.StdEncoding.DecodeString(u.User.ClientCertificateData)
			keyPEM, err2 := base64.StdEncoding.DecodeString(u.User.ClientKeyData)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("kubeconfig client certificate: %w", err)
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	tok, err := c.token()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var st struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return &APIError{Method: method, URL: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
		}
	}
	return nil
}

func stsPath(ns, name string) string {
	return fmt.Sprintf("/apis/apps/v1/namespaces/%s/statefulsets/%s", url.PathEscape(ns), url.PathEscape(name))
}

// GetStatefulSet reads a StatefulSet.
func (c *Client) GetStatefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	var s appsv1.StatefulSet
	return &s, c.do(ctx, http.MethodGet, stsPath(ns, name), "", nil, &s)
}

// GetScale reads a StatefulSet's scale subresource.
func (c *Client) GetScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	var s autoscalingv1.Scale
	return &s, c.do(ctx, http.MethodGet, stsPath(ns, name)+"/scale", "", nil, &s)
}

// SetReplicas patches the scale subresource. The scale subresource needs only the narrow
// statefulsets/scale permission and cannot touch the pod template.
func (c *Client) SetReplicas(ctx context.Context, ns, name string, replicas int32) error {
	patch := map[string]any{"spec": map[string]any{"replicas": replicas}}
	return c.do(ctx, http.MethodPatch, stsPath(ns, name)+"/scale", "application/merge-patch+json", patch, nil)
}

// ListPods lists the pods matching a label selector.
func (c *Client) ListPods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	var l corev1.PodList
	p := fmt.Sprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", url.PathEscape(ns), url.QueryEscape(selector))
	if err := c.do(ctx, http.MethodGet, p, "", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// ListJobs lists the Jobs matching a label selector.
func (c *Client) ListJobs(ctx context.Context, ns, selector string) ([]batchv1.Job, error) {
	var l batchv1.JobList
	p := fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s", url.PathEscape(ns), url.QueryEscape(selector))
	if err := c.do(ctx, http.MethodGet, p, "", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// GetConfigMap reads a ConfigMap.
func (c *Client) GetConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	return &cm, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/namespaces/%s/configmaps/%s", url.PathEscape(ns), url.PathEscape(name)), "", nil, &cm)
}
