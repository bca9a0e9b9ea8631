package podagent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// SlowLink makes the network path to one pod's port slow in one direction, as a congested link
// between nodes would: every connection a peer opens *by the pod's DNS name* (the hostname record
// <pod>.<subdomain>.<ns>.svc.<domain>, which is how rqlite's Raft addresses reach a node) goes
// through a relay that forwards what the peer sends at bytesPerSecond and what the pod answers at
// full speed. Connections to the pod's IP (probes, tests' clients) do not pass through it. The
// relay dials the pod's current incarnation at connect time, so it may be set up before the pod
// exists; until then connections are refused, as to a pod that is not running.
//
// A fault injected into a real network for real processes, not a fake of anything: it exists so
// tests can hold a node behind the cluster for seconds (a rejoining node catching up) and watch
// what its probes and clients see meanwhile. The returned stop removes the DNS override and
// closes the relay and its connections; the test's cleanup calls it too.
func (a *Agent) SlowLink(pod string, port int, bytesPerSecond int) (stop func(), err error) {
	if bytesPerSecond <= 0 {
		return nil, fmt.Errorf("slow link to %s: rate %d bytes/s", pod, bytesPerSecond)
	}
	ns, name := a.split(pod)
	ip, err := a.ipam.allocate("slowlink/" + ns + "/" + name)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		a.ipam.release(ip)
		return nil, fmt.Errorf("slow link to %s: %w", pod, err)
	}
	r := &relay{agent: a, pod: pod, port: port, rate: bytesPerSecond, l: l, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.serve()
	a.dns.override(ns, name, netip.MustParseAddr(ip))
	a.logf("slow link to %s:%d through %s at %d bytes/s", pod, port, ip, bytesPerSecond)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			a.dns.override(ns, name, netip.Addr{})
			r.close()
			a.ipam.release(ip)
			a.logf("slow link to %s:%d removed", pod, port)
		})
	}
	a.t.Cleanup(stop)
	return stop, nil
}

type relay struct {
	agent *Agent
	pod   string
	port  int
	rate  int
	l     net.Listener
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.forward(c)
		}()
	}
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = true
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

func (r *relay) forward(client net.Conn) {
	defer r.untrack(client)
	defer client.Close()
	ip := r.agent.PodIP(r.pod)
	if ip == "" {
		return
	}
	server, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(r.port)), 5*time.Second)
	if err != nil {
		return
	}
	if !r.track(server) {
		server.Close()
		return
	}
	defer r.untrack(server)
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = copyThrottled(server, client, r.rate)
		closeWrite(server)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, server)
		closeWrite(client)
		done <- struct{}{}
	}()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// copyThrottled copies src to dst through a token bucket holding at most one chunk: a
// connection that was idle gets no credit for it, so a large message after a quiet spell is as
// slow as one in a busy stream, while a small message (a Raft heartbeat on its own connection)
// goes through at once.
func copyThrottled(dst io.Writer, src io.Reader, rate int) (int64, error) {
	const chunk = 4096
	buf := make([]byte, chunk)
	var total int64
	tokens := float64(chunk)
	last := time.Now()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			tokens = min(float64(chunk), tokens+now.Sub(last).Seconds()*float64(rate))
			last = now
			if need := float64(n) - tokens; need > 0 {
				wait := time.Duration(need / float64(rate) * float64(time.Second))
				time.Sleep(wait)
				last = last.Add(wait)
				tokens = 0
			} else {
				tokens -= float64(n)
			}
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
	}
}

func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	r.l.Close()
	for _, c := range conns {
		c.Close()
	}
	waitTimeout(&r.wg, 10*time.Second)
}
