package podagent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeTransport mirrors the kubelet's prober: no keep-alive (each probe is a fresh
// connection, so a wedged server cannot hide behind an idle one), no proxy, no TLS
// verification.
var probeTransport = &http.Transport{
	DisableKeepAlives: true,
	Proxy:             nil,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
}

// runProbes drives one container run's probes the way the kubelet's prober does: the startup
// probe first (liveness and readiness wait for it), then readiness and liveness side by side.
// Each starts initialDelaySeconds after the container started and repeats every periodSeconds;
// a result flips after successThreshold successes or failureThreshold failures in a row.
// Startup and liveness failures kill the container (preStop, SIGTERM, grace period, SIGKILL),
// after which the restart policy applies.
func (w *podWorker) runProbes(ctx context.Context, c *container, p *process) {
	if pr := c.spec.StartupProbe; pr != nil {
		started := false
		failures := 0
		w.probeLoop(ctx, c, p, pr, func(ok bool, msg string) bool {
			if ok {
				started = true
				return true
			}
			failures++
			if failures >= int(threshold(pr.FailureThreshold, 3)) {
				w.event(corev1.EventTypeWarning, "Unhealthy", "Startup probe failed: %s", msg)
				go w.killContainer(c, p, w.probeGrace(pr), fmt.Sprintf("Container %s failed startup probe, will be restarted", c.spec.Name))
				return true
			}
			return false
		})
		if !started {
			return
		}
		w.mu.Lock()
		if c.proc == p {
			c.started = true
		}
		w.mu.Unlock()
		w.logf("container %s started (startup probe succeeded)", c.spec.Name)
		w.markDirty()
	}
	if pr := c.spec.ReadinessProbe; pr != nil {
		go func() {
			ready, streak := false, 0
			w.probeLoop(ctx, c, p, pr, func(ok bool, msg string) bool {
				if ok != ready {
					streak++
				} else {
					streak = 0
				}
				need := threshold(pr.FailureThreshold, 3)
				if !ready {
					need = threshold(pr.SuccessThreshold, 1)
				}
				if streak >= int(need) {
					ready, streak = ok, 0
					w.setReady(c, p, ok, msg)
				}
				return false
			})
		}()
	} else {
		w.setReady(c, p, true, "")
	}
	if pr := c.spec.LivenessProbe; pr != nil {
		go func() {
			failures := 0
			w.probeLoop(ctx, c, p, pr, func(ok bool, msg string) bool {
				if ok {
					failures = 0
					return false
				}
				failures++
				if failures >= int(threshold(pr.FailureThreshold, 3)) {
					w.event(corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: %s", msg)
					go w.killContainer(c, p, w.probeGrace(pr), fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.spec.Name))
					return true
				}
				return false
			})
		}()
	}
}

func (w *podWorker) setReady(c *container, p *process, ready bool, msg string) {
	w.mu.Lock()
	if c.proc != p || p.exited() {
		w.mu.Unlock()
		return
	}
	c.ready = ready
	w.mu.Unlock()
	if ready {
		w.logf("container %s ready", c.spec.Name)
	} else {
		w.logf("container %s not ready: %s", c.spec.Name, msg)
	}
	w.markDirty()
}

func threshold(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// probeLoop calls result with each probe outcome until it returns true or ctx ends.
func (w *podWorker) probeLoop(ctx context.Context, c *container, p *process, pr *corev1.Probe, result func(ok bool, msg string) bool) {
	delay := time.Duration(pr.InitialDelaySeconds)*time.Second - time.Since(p.start)
	if delay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	period := time.Duration(threshold(pr.PeriodSeconds, 10)) * time.Second
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		ok, msg := w.probe(ctx, c, pr)
		if ctx.Err() != nil {
			return
		}
		if result(ok, msg) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *podWorker) probe(ctx context.Context, c *container, pr *corev1.Probe) (bool, string) {
	timeout := time.Duration(threshold(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		return w.httpProbe(ctx, c, pr.HTTPGet, timeout)
	case pr.TCPSocket != nil:
		port, err := containerPort(&c.spec, pr.TCPSocket.Port.String())
		if err != nil {
			return false, err.Error()
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = w.podIP()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", hostPort(host, port))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case pr.Exec != nil:
		if err := w.execIn(ctx, c, pr.Exec.Command, "probe"); err != nil {
			return false, err.Error()
		}
		return true, ""
	case pr.GRPC != nil:
		return false, "gRPC probes are not supported by podagent"
	}
	return false, "probe has no handler"
}

func (w *podWorker) podIP() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ip
}

// httpProbe: success is a status in [200, 400). Redirects are followed only to the same host;
// one elsewhere counts as success, as with the kubelet.
func (w *podWorker) httpProbe(ctx context.Context, c *container, g *corev1.HTTPGetAction, timeout time.Duration) (bool, string) {
	port, err := containerPort(&c.spec, g.Port.String())
	if err != nil {
		return false, err.Error()
	}
	host := g.Host
	if host == "" {
		host = w.podIP()
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(fmt.Sprintf("%s://%s%s", scheme, hostPort(host, port), path))
	if err != nil {
		return false, err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: probeTransport,
		Timeout:   timeout,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Host != u.Host || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10*1024))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
}
