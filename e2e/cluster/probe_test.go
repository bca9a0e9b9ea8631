package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
)

// catchUpRate throttles what the cluster sends to the rejoining read-only node. Filler rows of
// about 3 kB (one Raft entry each, 64 to an AppendEntries batch) make a batch take about 3 s
// at this rate, well inside the leader's 10 s transport timeout, and the whole backlog about 10 s.
const (
	catchUpRate = 64 << 10
	fillerRows  = 300
	fillerBytes = 2048 // random bytes per row, base64-encoded (rqlite gzips entries; this does not shrink)
)

// TestReadinessProbeHoldsBackALaggingNode proves directly that the readiness probe as rendered
// (render.ReadinessPath, /readyz?sync) keeps a read-only node out of the Service while it serves
// stale data, and that it is the sync check that does it.
//
// A read-only pod leaves with the value 42 on its volume; while it is away the cluster writes a
// backlog and then overwrites 42. The pod comes back on its old volume behind a slow link
// (podagent.SlowLink: the cluster's Raft traffic to it is throttled), so for seconds it knows the
// leader yet serves 42 at level=none. Meanwhile:
//   - nothing routes to it: no read from a Ready pod or a ready endpoint of rqlite-readonly
//     returns 42;
//   - the window is real: the pod did serve 42 while not ready (otherwise the test proves
//     nothing), and plain /readyz, the probe without sync, answered 200 at such a moment: a
//     probe without sync would have admitted a stale node.
//
// Checked against the mutation: with render.ReadinessPath set to plain "/readyz" this test fails
// with about 70 reads of 42 from a pod that was Ready and a ready endpoint of the Service.
func TestReadinessProbeHoldsBackALaggingNode(t *testing.T) {
	e := newEnv(t, "lag")
	e.apply(e.render(3, 1))
	voters, pool := names("rqlite", 3), names("rqlite-readonly", 1)
	ro := pool[0]
	e.waitReady(2*time.Minute, append(append([]string{}, voters...), pool...)...)
	vc := e.client(voters...)
	e.waitMembership(60*time.Second, vc, voters, pool)
	e.waitShrinkJob(60 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := vc.Execute(ctx,
		rqlite.Stmt("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)"),
		rqlite.Stmt("CREATE TABLE filler (id INTEGER PRIMARY KEY, blob TEXT)"),
		rqlite.Stmt("INSERT INTO kv(id, v) VALUES(1, '42')")); err != nil {
		t.Fatal(err)
	}
	roc := e.client(ro)
	e.waitFor(30*time.Second, ro+" serves 42", func(ctx context.Context) error {
		v, err := readValue(ctx, roc)
		if err == nil && v != "42" {
			err = fmt.Errorf("value %q", v)
		}
		return err
	})

	e.apply(e.render(3, 0))
	e.waitPodsGone(90*time.Second, ro)
	e.waitMembership(30*time.Second, vc, voters, nil)
	e.waitShrinkJob(60 * time.Second)

	// The backlog the node must fetch over the slow link, then the value that makes 42 stale.
	// Set up before the pod returns: the link is in place for its first Raft connection.
	if _, err := e.agent.SlowLink(ro, 4002, catchUpRate); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, fillerBytes)
	for i := range fillerRows {
		if _, err := io.ReadFull(rand.Reader, blob); err != nil {
			t.Fatal(err)
		}
		if _, err := vc.Execute(ctx, rqlite.Stmt("INSERT INTO filler(id, blob) VALUES(?, ?)", i, base64.StdEncoding.EncodeToString(blob))); err != nil {
			t.Fatalf("filler row %d: %v", i, err)
		}
	}
	if _, err := vc.Execute(ctx, rqlite.Stmt("UPDATE kv SET v=? WHERE id=1", time.Now().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	u := startUpdater(vc)
	t.Cleanup(func() { u.halt() })
	r := startReader(e, pool)
	t.Cleanup(func() { r.halt() })
	pr := startPlainProbe(e, ro)
	t.Cleanup(func() { pr.halt() })

	e.apply(e.render(3, 1))
	e.waitReady(3*time.Minute, ro)
	e.waitMembership(60*time.Second, vc, voters, pool)
	e.waitFor(60*time.Second, "reads from the ready read-only pod", func(context.Context) error {
		if n := r.readyReads()[ro]; n < 20 {
			return fmt.Errorf("%d ready reads", n)
		}
		return nil
	})

	ready, notReadyStale, stale := r.halt()
	plainOKStale, plainChecks := pr.halt()
	ok, failures := u.halt()
	t.Logf("%d updates; ready reads %v; 42 served while not ready %d times; plain /readyz 200 while serving 42: %d of %d checks",
		ok, ready, notReadyStale, plainOKStale, plainChecks)
	if logs := e.agent.Logs(ro, "rqlite"); !strings.Contains(logs, "preexisting node state detected") {
		t.Errorf("%s did not start from its old volume; log tail:\n%s", ro, tail(logs, 15))
	}
	for i, s := range stale {
		if i == 10 {
			t.Errorf("... and %d more stale reads", len(stale)-i)
			break
		}
		t.Errorf("stale read from a routable pod: %s", s)
	}
	if notReadyStale == 0 {
		t.Errorf("%s never served 42 while catching up: the slow link did not hold it back, so this run proves nothing about the probe", ro)
	}
	if plainOKStale == 0 {
		t.Errorf("plain /readyz never answered 200 while %s served 42: the run did not show that the sync check is what keeps it out", ro)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d updates failed; first: %v", len(failures), ok+len(failures), failures[0])
	}
	if !strings.Contains(render.ReadinessPath, "sync") {
		t.Errorf("rendered readiness path %q has no sync check", render.ReadinessPath)
	}
}

// plainProbe asks a pod's /readyz without sync, then reads kv at level=none, and counts the
// moments the probe passed although the pod served 42.
type plainProbe struct {
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	okOld  int
	checks int
}

func startPlainProbe(e *env, pod string) *plainProbe {
	p := &plainProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		hc := &http.Client{Timeout: 2 * time.Second}
		clients := map[string]*rqlite.Client{}
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			url := e.agent.URL(pod)
			if url == "" {
				continue
			}
			resp, err := hc.Get(url + "/readyz")
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cl, ok := clients[url]
			if !ok {
				cl = rqlite.MustNew(rqlite.Options{URLs: []string{url}, Timeout: 2 * time.Second})
				clients[url] = cl
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			v, err := readValue(ctx, cl)
			cancel()
			if err != nil {
				continue
			}
			p.mu.Lock()
			p.checks++
			if resp.StatusCode == http.StatusOK && v == "42" {
				p.okOld++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *plainProbe) halt() (okWhileStale, checks int) {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.okOld, p.checks
}
