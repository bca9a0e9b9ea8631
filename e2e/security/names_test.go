package security

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// resolver stands in for cluster DNS and kube-proxy: pod DNS names map to one node's loopback
// address, a Service name to several (tried in order, like endpoints of which some are down).
// Only names it knows resolve; nothing falls back to the machine's DNS.
type resolver struct {
	mu    sync.Mutex
	hosts map[string][]string
}

func newResolver() *resolver { return &resolver{hosts: map[string][]string{}} }

func (r *resolver) add(name string, ips ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[name] = append(r.hosts[name], ips...)
}

func (r *resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) != nil {
		return nil, fmt.Errorf("test resolver: %s: only names are dialled in these tests", addr)
	}
	r.mu.Lock()
	ips := append([]string(nil), r.hosts[host]...)
	r.mu.Unlock()
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
	}
	var d net.Dialer
	var errs []error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// httpClient reaches nodes by name through the resolver with the given TLS settings; TLS verifies
// the name in the URL, as a client in the cluster would.
func (r *resolver) httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         r.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 5 * time.Second,
		DisableKeepAlives:   true,
	}}
}

// connectProxy serves HTTP CONNECT over the resolver, so that a separate process (the built
// rqlite-fn) resolves cluster names with HTTPS_PROXY set. The tunnel is opaque: TLS runs end to end
// between the process and rqlited and verifies the names the process asked for.
func (r *resolver) connectProxy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		upstream, err := r.DialContext(ctx, "tcp", req.Host)
		cancel()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			upstream.Close()
			http.Error(w, "no hijacking", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		client, buf, err := hj.Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		go func() {
			defer upstream.Close()
			defer client.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(upstream, buf); done <- struct{}{} }()
			go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
			<-done
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
