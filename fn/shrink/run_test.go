package shrink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/fn/shrink"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// The workflow runs against real rqlited v8.43.4 processes (internal/testenv)
// through the real rqlite client. The Kubernetes side is fakeStatefulSet: no
// kubelet or StatefulSet controller can run here, so a fake plays them over the
// rqlited processes. A pod agent for full end-to-end tests on a real control
// plane is being built separately; these tests are about the workflow's logic
// and its effect on a real Raft cluster.

const sts = "rqlite"

// fakeStatefulSet is a fake of the StatefulSet controller plus kubelet for the
// voters of a testenv cluster: voter "rqlite-<o>" is the pod of ordinal o.
// Lowering replicas stops (SIGTERM, what the kubelet sends after a pod
// deletion) every running voter at or above the new count, all at once
// (Parallel pod management) and asynchronously, as a controller does; a pod is
// gone when its process has exited. It never starts nodes: scaling up is not
// part of a shrink.
type fakeStatefulSet struct {
	c *testenv.RqliteCluster

	mu       sync.Mutex
	replicas int
	missing  bool
	sets     []int
	events   []event
	stopping sync.WaitGroup

	// stopDelay delays the stops, like a pod's preStop hook and grace period.
	stopDelay time.Duration
	// afterSet, afterGone run after a successful SetReplicas / WaitPodsGone.
	afterSet, afterGone func()
}

func newFakeStatefulSet(t *testing.T, c *testenv.RqliteCluster, replicas int) *fakeStatefulSet {
	f := &fakeStatefulSet{c: c, replicas: replicas}
	// Registered after the cluster's cleanup, so it runs first (LIFO).
	t.Cleanup(f.stopping.Wait)
	return f
}

func (f *fakeStatefulSet) nodeIndex(ordinal int) (int, bool) {
	id := fmt.Sprintf("%s-%d", sts, ordinal)
	for i := range f.c.Len() {
		if n := f.c.Node(i); n.Voter && n.ID == id {
			return i, true
		}
	}
	return 0, false
}

func (f *fakeStatefulSet) Replicas(context.Context) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicas, !f.missing, nil
}

func (f *fakeStatefulSet) SetReplicas(_ context.Context, n int) error {
	f.mu.Lock()
	f.replicas = n
	f.sets = append(f.sets, n)
	f.mu.Unlock()
	f.reconcile()
	if f.afterSet != nil {
		f.afterSet()
	}
	return nil
}

// reconcile stops every running voter whose ordinal is at or above replicas.
func (f *fakeStatefulSet) reconcile() {
	f.mu.Lock()
	n := f.replicas
	f.mu.Unlock()
	start := time.Now()
	var victims []int
	for i := range f.c.Len() {
		node := f.c.Node(i)
		o, ok := shrink.PodOrdinal(sts, node.ID)
		if !ok || !node.Voter || o < n || !node.Running() {
			continue
		}
		victims = append(victims, i)
	}
	if len(victims) == 0 {
		return
	}
	f.stopping.Add(1)
	go func() {
		defer f.stopping.Done()
		time.Sleep(f.stopDelay)
		var wg sync.WaitGroup
		for _, i := range victims {
			wg.Go(func() { _ = f.c.Stop(i) })
		}
		wg.Wait()
		f.mu.Lock()
		f.events = append(f.events, event{op: "scale", arg: fmt.Sprint(n), start: start, end: time.Now()})
		f.mu.Unlock()
	}()
}

func (f *fakeStatefulSet) WaitPodsGone(ctx context.Context, ordinals []int) error {
	for {
		var left []string
		for _, o := range ordinals {
			if i, ok := f.nodeIndex(o); ok && f.c.Node(i).Running() {
				left = append(left, f.c.Node(i).ID)
			}
		}
		if len(left) == 0 {
			if f.afterGone != nil {
				f.afterGone()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: still running: %v", ctx.Err(), left)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (f *fakeStatefulSet) Sets() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sets)
}

func (f *fakeStatefulSet) Events() []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

type event struct {
	op, arg    string
	start, end time.Time
	err        error
}

// recordingRaft is the real client with a record of every call that changes
// the cluster, and hooks to interrupt the run at chosen points.
type recordingRaft struct {
	shrink.Raft

	mu     sync.Mutex
	events []event
	nodes  int

	beforeNodes func(call int)
	after       func(op, arg string, err error)
}

func (r *recordingRaft) Nodes(ctx context.Context) ([]rqlite.Node, error) {
	r.mu.Lock()
	r.nodes++
	call := r.nodes
	r.mu.Unlock()
	if r.beforeNodes != nil {
		r.beforeNodes(call)
	}
	return r.Raft.Nodes(ctx)
}

func (r *recordingRaft) record(op, arg string, start time.Time, err error) {
	r.mu.Lock()
	r.events = append(r.events, event{op: op, arg: arg, start: start, end: time.Now(), err: err})
	r.mu.Unlock()
	if r.after != nil {
		r.after(op, arg, err)
	}
}

func (r *recordingRaft) TransferLeadership(ctx context.Context, to string) error {
	start := time.Now()
	err := r.Raft.TransferLeadership(ctx, to)
	r.record("transfer", to, start, err)
	return err
}

func (r *recordingRaft) RemoveAndConfirm(ctx context.Context, id string) (bool, error) {
	start := time.Now()
	was, err := r.Raft.RemoveAndConfirm(ctx, id)
	r.record("remove", id, start, err)
	return was, err
}

func (r *recordingRaft) Events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recordingRaft) ops(op string) []string {
	var out []string
	for _, e := range r.Events() {
		if e.op == op && e.err == nil {
			out = append(out, e.arg)
		}
	}
	return out
}

// syncBuffer collects the run's log lines; the fake's goroutines never write
// to it, but the run and the test may read it concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(target int) shrink.Config {
	return shrink.Config{
		StatefulSet:  sts,
		Target:       target,
		Timeout:      2 * time.Minute,
		PollInterval: 100 * time.Millisecond,
		LeaderWait:   15 * time.Second,
		PodTimeout:   time.Minute,
		OpTimeout:    15 * time.Second,
	}
}

// run runs the workflow with its log captured and echoed to the test log.
func run(t *testing.T, ctx context.Context, cfg shrink.Config, raft shrink.Raft, wl shrink.Workload) (shrink.Result, string, error) {
	t.Helper()
	var buf syncBuffer
	cfg.Log = &buf
	start := time.Now()
	res, err := shrink.Run(ctx, cfg, raft, wl)
	t.Logf("shrink.Run (%s, err=%v):\n%s", time.Since(start).Round(time.Millisecond), err, buf.String())
	return res, buf.String(), err
}

// serviceClient stands for the Job's client Service URL, which reaches some
// ready voter: a client over every voter URL that moves on when a connection
// is refused is the closest loopback equivalent.
func serviceClient(c *testenv.RqliteCluster) *rqlite.Client {
	var urls []string
	for i := range c.Len() {
		if c.Node(i).Voter {
			urls = append(urls, c.Node(i).URL)
		}
	}
	return rqlite.MustNew(rqlite.Options{URLs: urls, Timeout: 10 * time.Second})
}

// members returns the voters and non-voters in the leader's own view.
func members(t *testing.T, c *testenv.RqliteCluster) (voters, nonVoters []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	li := c.LeaderIndex()
	nodes, err := c.Client(li).Nodes(ctx)
	require.NoError(t, err)
	for _, n := range nodes {
		if n.Voter {
			voters = append(voters, n.ID)
		} else {
			nonVoters = append(nonVoters, n.ID)
		}
	}
	return voters, nonVoters
}

func forceLeader(t *testing.T, c *testenv.RqliteCluster, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.ClusterClient().TransferLeadership(ctx, id))
	require.Equal(t, id, c.Node(c.LeaderIndex()).ID)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func voterIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", sts, i)
	}
	return out
}

// writer inserts rows with increasing ids through the voters in turn (as a
// Service spreads connections), recording what was acknowledged and when
// writes failed.
type writer struct {
	clients []*rqlite.Client
	stop    chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	acked    []int64
	ackedAt  []time.Time
	failures []writeFailure
	total    int
}

type writeFailure struct {
	id         int64
	start, end time.Time
	err        error
}

func startWriter(t *testing.T, c *testenv.RqliteCluster) *writer {
	t.Helper()
	// Right after an election the other nodes may not know the new leader
	// for a heartbeat ("leader not found"), hence the retries.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.ClusterClient().Execute(ctx, rqlite.Stmt("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)"))
		assert.NoError(ct, err)
	}, 20*time.Second, 100*time.Millisecond)
	var urls []string
	for i := range c.Len() {
		if c.Node(i).Voter {
			urls = append(urls, c.Node(i).URL)
		}
	}
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	for i := range urls {
		rotated := append(slices.Clone(urls[i:]), urls[:i]...)
		w.clients = append(w.clients, rqlite.MustNew(rqlite.Options{URLs: rotated, Timeout: 5 * time.Second}))
	}
	go w.loop()
	t.Cleanup(w.halt)
	return w
}

func (w *writer) loop() {
	defer close(w.done)
	for id := int64(1); ; id++ {
		select {
		case <-w.stop:
			return
		default:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := w.clients[int(id)%len(w.clients)].Execute(ctx, rqlite.Stmt("INSERT INTO t(id) VALUES(?)", id))
		cancel()
		w.mu.Lock()
		w.total++
		if err == nil {
			w.acked = append(w.acked, id)
			w.ackedAt = append(w.ackedAt, time.Now())
		} else {
			w.failures = append(w.failures, writeFailure{id: id, start: start, end: time.Now(), err: err})
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Writes may fail only this long after a leadership transfer, a scale-down or
// a removal ended.
const disruptionGrace = 5 * time.Second

func TestRunNineToThreeUnderWrites(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 9})
	// The leader starts on a node that goes in the first step, so the run
	// must move it while writes flow.
	forceLeader(t, c, "rqlite-8")
	fake := newFakeStatefulSet(t, c, 9)
	// Pods take a while to stop (preStop sleep, graceful shutdown): writes
	// keep flowing through the victims until they do.
	fake.stopDelay = time.Second
	raft := &recordingRaft{Raft: serviceClient(c)}
	w := startWriter(t, c)
	time.Sleep(time.Second) // some writes before the first change

	runStart := time.Now()
	res, log, err := run(t, ctxFor(t, 3*time.Minute), testConfig(3), raft, fake)
	runEnd := time.Now()
	require.NoError(t, err)
	time.Sleep(time.Second) // and some after the last
	w.halt()

	assert.Equal(t, []int{5, 3}, fake.Sets())
	assert.Equal(t, []string{"rqlite-8", "rqlite-7", "rqlite-6", "rqlite-5", "rqlite-4", "rqlite-3"}, res.Removed)
	assert.Equal(t, voterIDs(3), res.Voters)
	assert.True(t, res.Changed)
	assert.Equal(t, 9, res.FromReplicas)
	assert.Equal(t, 3, res.ToReplicas)
	assert.Equal(t, []string{"rqlite-0", "rqlite-1"}, raft.ops("transfer"), "off the victims, then once more after the removals")
	for _, want := range []string{
		"step 1/2: 9 → 5 voters: moving leadership from rqlite-8 to rqlite-0",
		"step 1/2: 9 → 5 voters: scaled StatefulSet rqlite to 5",
		"step 1/2: 9 → 5 voters: removed rqlite-8 (confirmed)",
		"step 2/2: 5 → 3 voters: scaled StatefulSet rqlite to 3",
		"step 2/2: 5 → 3 voters: removed rqlite-3 (confirmed)",
		"done: StatefulSet rqlite scaled from 9 to 3 replicas",
	} {
		assert.Contains(t, log, want)
	}

	voters, _ := members(t, c)
	assert.Equal(t, voterIDs(3), voters)

	// Every acknowledged write is there, read with level strong (through the
	// leader's log).
	ctx := ctxFor(t, 30*time.Second)
	rows, err := c.Client(c.LeaderIndex()).Query(ctx, rqlite.LevelStrong, "SELECT id FROM t")
	require.NoError(t, err)
	present := map[int64]bool{}
	for _, row := range rows.Values {
		id, err := row[0].(json.Number).Int64()
		require.NoError(t, err)
		present[id] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost []int64
	for _, id := range w.acked {
		if !present[id] {
			lost = append(lost, id)
		}
	}
	assert.Empty(t, lost, "acknowledged writes missing after the shrink")
	// The writer must have been busy during the run and still be after it.
	var during, after int
	for _, a := range w.ackedAt {
		switch {
		case a.After(runStart) && a.Before(runEnd):
			during++
		case a.After(runEnd):
			after++
		}
	}
	assert.Greater(t, during, 20, "acknowledged writes during the run")
	assert.Positive(t, after, "acknowledged writes after the run")

	// Failures only right after disruptive actions, and few of them.
	events := append(raft.Events(), fake.Events()...)
	var outside []string
	for _, f := range w.failures {
		ok := false
		for _, e := range events {
			if !f.end.Before(e.start) && !f.start.After(e.end.Add(disruptionGrace)) {
				ok = true
				break
			}
		}
		if !ok {
			outside = append(outside, fmt.Sprintf("id %d at %s: %v", f.id, f.start.Format("15:04:05.000"), f.err))
		}
	}
	assert.Empty(t, outside, "writes failed outside the windows after transfers, scale-downs and removals")
	window := failureWindow(w.failures)
	t.Logf("writes: %d sent, %d acknowledged, %d failed; failures spread over %s", w.total, len(w.acked), len(w.failures), window)
	assert.Less(t, window, 10*time.Second, "total time with failing writes")
}

// failureWindow sums the spans of failure bursts (failures less than a second
// apart belong to one burst).
func failureWindow(fs []writeFailure) time.Duration {
	var total time.Duration
	for i := 0; i < len(fs); {
		j := i
		for j+1 < len(fs) && fs[j+1].start.Sub(fs[j].end) < time.Second {
			j++
		}
		total += fs[j].end.Sub(fs[i].start)
		i = j + 1
	}
	return total
}

func TestRunLeaderAmongRemoved(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5})
	forceLeader(t, c, "rqlite-4")
	fake := newFakeStatefulSet(t, c, 5)
	var leaderAtScale string
	fake.afterSet = func() {
		// Ask the nodes themselves, at the moment the pods are told to stop.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := range 5 {
			if st, err := c.Client(i).Status(ctx); err == nil && st.RaftState == "Leader" {
				leaderAtScale = st.NodeID
			}
		}
	}
	raft := &recordingRaft{Raft: serviceClient(c)}

	res, log, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), raft, fake)
	require.NoError(t, err)
	assert.Equal(t, "rqlite-0", leaderAtScale, "leadership must be on a survivor before the victims stop")
	assert.Equal(t, []int{3}, fake.Sets())
	assert.Equal(t, []string{"rqlite-0", "rqlite-1"}, raft.ops("transfer"), "off the victims, then once more after the removals")
	assert.Equal(t, []string{"rqlite-4", "rqlite-3"}, res.Removed)
	assert.Contains(t, log, "step 1/1: 5 → 3 voters: moving leadership from rqlite-4 to rqlite-0")
	assert.Contains(t, log, "step 1/1: 5 → 3 voters: rqlite-0 is leader")
	voters, _ := members(t, c)
	assert.Equal(t, voterIDs(3), voters)
	assert.Equal(t, "rqlite-1", res.Leader, "the hand-over after the removals")
}

// A Job pod can be killed at any moment (node drain, deadline, deletion). The
// next run must pick up from whatever it finds.
func TestRunInterruptedAndRerun(t *testing.T) {
	cases := []struct {
		name string
		cut  func(cancel context.CancelFunc, fake *fakeStatefulSet, raft *recordingRaft)
	}{
		{"after leadership moved", func(cancel context.CancelFunc, _ *fakeStatefulSet, raft *recordingRaft) {
			raft.after = func(op, _ string, err error) {
				if op == "transfer" && err == nil {
					cancel()
				}
			}
		}},
		{"after scale, pods still stopping", func(cancel context.CancelFunc, fake *fakeStatefulSet, _ *recordingRaft) {
			fake.stopDelay = 300 * time.Millisecond
			fake.afterSet = cancel
		}},
		{"after scale, pods gone, ids still in Raft", func(cancel context.CancelFunc, fake *fakeStatefulSet, _ *recordingRaft) {
			fake.afterGone = cancel
		}},
		{"after the first removal", func(cancel context.CancelFunc, _ *fakeStatefulSet, raft *recordingRaft) {
			raft.after = func(op, _ string, err error) {
				if op == "remove" && err == nil {
					cancel()
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5})
			forceLeader(t, c, "rqlite-4")
			fake := newFakeStatefulSet(t, c, 5)
			raft := &recordingRaft{Raft: serviceClient(c)}
			ctx, cancel := context.WithCancel(ctxFor(t, 2*time.Minute))
			tc.cut(cancel, fake, raft)

			_, _, err := run(t, ctx, testConfig(3), raft, fake)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Contains(t, err.Error(), "running the Job again continues from the current state")

			fake.afterSet, fake.afterGone = nil, nil
			raft2 := &recordingRaft{Raft: serviceClient(c)}
			res, _, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), raft2, fake)
			require.NoError(t, err)
			assert.Equal(t, voterIDs(3), res.Voters)
			assert.Equal(t, 3, res.ToReplicas)
			assert.Equal(t, []int{3}, fake.Sets(), "scaled once over both runs")
			voters, _ := members(t, c)
			assert.Equal(t, voterIDs(3), voters)
			for i := 3; i < 5; i++ {
				assert.False(t, c.Node(i).Running(), "rqlite-%d must be stopped", i)
			}

			// A third run finds nothing to do.
			raft3 := &recordingRaft{Raft: serviceClient(c)}
			res, log, err := run(t, ctxFor(t, time.Minute), testConfig(3), raft3, fake)
			require.NoError(t, err)
			assert.False(t, res.Changed)
			assert.Empty(t, raft3.Events())
			assert.Contains(t, log, "nothing to do")
		})
	}
}

func TestRunVictimKilledMidRun(t *testing.T) {
	cases := []struct {
		name   string
		victim int
		atCall int // the run's n-th look at the Raft configuration
	}{
		// The leader, a victim, dies without a word as the run starts: the run
		// must ride out the election, whoever wins it.
		{"leader at start", 4, 1},
		// A follower victim dies after leadership has been moved.
		{"follower after transfer", 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5})
			forceLeader(t, c, "rqlite-4")
			fake := newFakeStatefulSet(t, c, 5)
			raft := &recordingRaft{Raft: serviceClient(c)}
			var once sync.Once
			raft.beforeNodes = func(call int) {
				if call == tc.atCall {
					once.Do(func() { c.Kill(tc.victim) })
				}
			}

			res, _, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), raft, fake)
			require.NoError(t, err)
			assert.Equal(t, []int{3}, fake.Sets())
			assert.ElementsMatch(t, []string{"rqlite-4", "rqlite-3"}, res.Removed)
			voters, _ := members(t, c)
			assert.Equal(t, voterIDs(3), voters)
		})
	}
}

func TestRunWaitsForUnreachableSurvivor(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5})
	// Not the leader, so that what the run waits for is rqlite-1, not an election.
	forceLeader(t, c, "rqlite-0")
	c.Kill(1) // a voter that stays is down: stopping two more would leave 2 of 5
	fake := newFakeStatefulSet(t, c, 5)

	cfg := testConfig(3)
	cfg.Timeout = 3 * time.Second
	raft := &recordingRaft{Raft: serviceClient(c)}
	_, log, err := run(t, ctxFor(t, time.Minute), cfg, raft, fake)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "rqlite-1 (unreachable")
	assert.Contains(t, log, "every voter that stays must be reachable")
	assert.Empty(t, fake.Sets(), "nothing may be scaled while a survivor is down")
	assert.Empty(t, raft.Events())

	// The survivor comes back while the next run waits.
	go func() {
		time.Sleep(time.Second)
		c.Start(1)
	}()
	res, _, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), &recordingRaft{Raft: serviceClient(c)}, fake)
	require.NoError(t, err)
	assert.Equal(t, []int{3}, fake.Sets())
	assert.Equal(t, voterIDs(3), res.Voters)
}

func TestRunNothingToDo(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	for _, target := range []int{3, 5} {
		t.Run(fmt.Sprintf("3 replicas, target %d", target), func(t *testing.T) {
			fake := newFakeStatefulSet(t, c, 3)
			raft := &recordingRaft{Raft: serviceClient(c)}
			start := time.Now()
			res, log, err := run(t, ctxFor(t, time.Minute), testConfig(target), raft, fake)
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.False(t, res.Changed)
			assert.Empty(t, fake.Sets())
			assert.Empty(t, raft.Events(), "no transfer, no removal")
			assert.Equal(t, voterIDs(3), res.Voters)
			assert.Contains(t, log, "nothing to do: StatefulSet rqlite has 3 replicas")
		})
	}
	t.Run("no StatefulSet yet", func(t *testing.T) {
		fake := newFakeStatefulSet(t, c, 0)
		fake.missing = true
		raft := &recordingRaft{Raft: serviceClient(c)}
		res, log, err := run(t, ctxFor(t, time.Minute), testConfig(3), raft, fake)
		require.NoError(t, err)
		assert.True(t, res.StatefulSetMissing)
		assert.Zero(t, raft.nodes, "Raft is not even asked")
		assert.Contains(t, log, "does not exist (yet): nothing to do")
	})
	t.Run("rqlite not answering", func(t *testing.T) {
		// The Job runs before every apply, also while the cluster is down or
		// still starting; with nothing to shrink it must not block the apply.
		fake := newFakeStatefulSet(t, c, 3)
		dead := rqlite.MustNew(rqlite.Options{URLs: []string{"http://127.0.0.1:1"}, Timeout: time.Second})
		cfg := testConfig(3)
		cfg.LeaderWait = 500 * time.Millisecond
		res, log, err := run(t, ctxFor(t, time.Minute), cfg, dead, fake)
		require.NoError(t, err)
		assert.NotEmpty(t, res.Warning)
		assert.Contains(t, log, "nothing to shrink, so not failing")
	})
}

func TestRunRemovesStrays(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5, NonVoters: 1})
	foreign := c.AddNode(testenv.AddNodeOptions{ID: "other-0"}) // a hand-added voter
	// Someone lowered replicas to 3 without the Job: rqlite-3 is gone, rqlite-4
	// is still shutting down, and both are still voters.
	_ = c.Stop(3)
	fake := newFakeStatefulSet(t, c, 3)
	// Long enough for the run to find rqlite-4 still running.
	fake.stopDelay = 1500 * time.Millisecond
	fake.reconcile()
	raft := &recordingRaft{Raft: serviceClient(c)}

	res, log, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), raft, fake)
	require.NoError(t, err)
	assert.Empty(t, fake.Sets())
	assert.Equal(t, []string{"rqlite-3", "rqlite-4"}, res.Removed, "the unreachable one first")
	assert.Contains(t, log, "stray voters: waiting for pod rqlite-4 to stop before removing it from Raft")
	assert.Contains(t, log, "stray voters: removed rqlite-4 (confirmed)")
	assert.Contains(t, log, "done: StatefulSet rqlite stays at 3 replicas; removed from Raft: rqlite-3, rqlite-4")
	assert.Equal(t, []string{"rqlite-3", "rqlite-4"}, raft.ops("remove"), "nothing else is ever removed")
	voters, nonVoters := members(t, c)
	assert.Equal(t, []string{"other-0", "rqlite-0", "rqlite-1", "rqlite-2"}, voters)
	assert.Equal(t, []string{"rqlite-readonly-0"}, nonVoters)
	assert.True(t, c.Node(foreign).Running())
}

func TestRunTwoToOne(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupted after removal=%v", interrupt), func(t *testing.T) {
			c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 2})
			forceLeader(t, c, "rqlite-1")
			fake := newFakeStatefulSet(t, c, 2)
			var removedWhileRunning bool
			raft := &recordingRaft{Raft: serviceClient(c)}
			ctx, cancel := context.WithCancel(ctxFor(t, 2*time.Minute))
			raft.after = func(op, _ string, err error) {
				if op == "remove" && err == nil {
					removedWhileRunning = c.Node(1).Running()
					if interrupt {
						cancel()
					}
				}
			}
			res, log, err := run(t, ctx, testConfig(1), raft, fake)
			if interrupt {
				require.ErrorIs(t, err, context.Canceled)
				assert.Empty(t, fake.Sets())
				res, log, err = run(t, ctxFor(t, time.Minute), testConfig(1), &recordingRaft{Raft: serviceClient(c)}, fake)
			}
			require.NoError(t, err)
			assert.True(t, removedWhileRunning, "2→1 must remove the voter while it still runs")
			assert.Equal(t, []string{"rqlite-0"}, raft.ops("transfer"))
			assert.Equal(t, []int{1}, fake.Sets())
			assert.Equal(t, []string{"rqlite-0"}, res.Voters)
			assert.Contains(t, log, "step 1/1: 2 → 1 voters: scaled StatefulSet rqlite to 1")
			voters, _ := members(t, c)
			assert.Equal(t, []string{"rqlite-0"}, voters)
			assert.False(t, c.Node(1).Running())

			// The lone voter is a working cluster.
			_, err = c.Client(0).Execute(ctxFor(t, 10*time.Second), rqlite.Stmt("CREATE TABLE ok (x)"))
			require.NoError(t, err)
		})
	}
}

func TestRunWithAuth(t *testing.T) {
	// The shrink Job's user has exactly the perms the workflow needs; the
	// nodes join and the test harness probes with an all-powerful user.
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	b, err := json.Marshal([]map[string]any{
		{"username": "admin", "password": "admin-pw", "perms": []string{"all"}},
		{"username": "shrink", "password": "s3cret", "perms": []string{"remove", "status", "leader-ops"}},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(users, b, 0o600))
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{
		Voters: 5, Username: "admin", Password: "admin-pw",
		ExtraArgs: []string{"-auth", users}, // after the harness's own -auth, so it wins
	})
	forceLeader(t, c, "rqlite-4")
	fake := newFakeStatefulSet(t, c, 5)
	urls := make([]string, 5)
	for i := range urls {
		urls[i] = c.Node(i).URL
	}

	t.Run("without credentials", func(t *testing.T) {
		anon := rqlite.MustNew(rqlite.Options{URLs: urls})
		_, _, err := run(t, ctxFor(t, time.Minute), testConfig(3), anon, fake)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "HTTP 401")
		assert.Contains(t, err.Error(), "--password-file or RQLITE_PASSWORD")
		assert.Empty(t, fake.Sets())
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := rqlite.MustNew(rqlite.Options{URLs: urls, Username: "shrink", Password: "nope"})
		_, _, err := run(t, ctxFor(t, time.Minute), testConfig(3), bad, fake)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "HTTP 401")
		assert.Empty(t, fake.Sets())
	})
	t.Run("least-privilege user", func(t *testing.T) {
		cl := rqlite.MustNew(rqlite.Options{URLs: urls, Username: "shrink", Password: "s3cret"})
		raft := &recordingRaft{Raft: cl}
		res, _, err := run(t, ctxFor(t, 2*time.Minute), testConfig(3), raft, fake)
		require.NoError(t, err)
		assert.Equal(t, []string{"rqlite-0", "rqlite-1"}, raft.ops("transfer"))
		assert.Equal(t, []string{"rqlite-4", "rqlite-3"}, res.Removed)
		voters, _ := members(t, c)
		assert.Equal(t, voterIDs(3), voters)
	})
}

func TestRunNoQuorum(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3})
	// The exit status is rqlited's business: the second of these may exit 1
	// when, as leader, it cannot hand leadership over on the way out.
	_ = c.Stop(1)
	_ = c.Stop(2)
	fake := newFakeStatefulSet(t, c, 3)
	raft := &recordingRaft{Raft: serviceClient(c)}
	cfg := testConfig(1)
	cfg.LeaderWait = 2 * time.Second

	_, _, err := run(t, ctxFor(t, time.Minute), cfg, raft, fake)
	require.Error(t, err)
	var qe *shrink.QuorumError
	require.ErrorAs(t, err, &qe)
	msg := err.Error()
	assert.Contains(t, msg, `README section "Recovery from quorum loss"`)
	assert.Contains(t, msg, "1 of 3 voters reachable, a quorum needs 2")
	assert.Contains(t, msg, "this run changed nothing")
	assert.Empty(t, fake.Sets())
	assert.Empty(t, raft.Events())

	// The configuration is untouched.
	nodes, err := c.Client(0).Nodes(ctxFor(t, 10*time.Second))
	require.NoError(t, err)
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	assert.Equal(t, voterIDs(3), ids)
}

func TestRunRejectsBadConfig(t *testing.T) {
	_, err := shrink.Run(context.Background(), shrink.Config{StatefulSet: sts, Target: 0}, nil, nil)
	assert.ErrorContains(t, err, "target voters 0: must be at least 1")
	_, err = shrink.Run(context.Background(), shrink.Config{Target: 1}, nil, nil)
	assert.ErrorContains(t, err, "no StatefulSet name")
}

// scaledUpLater is the fake StatefulSet with a later change's scale-up applied after the run's
// first look: from the second read on, it reports more replicas than the run started with.
type scaledUpLater struct {
	*fakeStatefulSet
	mu    sync.Mutex
	reads int
	to    int
}

func (s *scaledUpLater) Replicas(ctx context.Context) (int, bool, error) {
	s.mu.Lock()
	s.reads++
	later := s.reads > 1
	s.mu.Unlock()
	if later {
		return s.to, true, nil
	}
	return s.fakeStatefulSet.Replicas(ctx)
}

// TestRunSupersededByScaleUp is the stale-Job case: a Job rendered for 3 voters starts while the
// cluster has no leader yet (a fresh install), and a later change scales the StatefulSet to 5
// before it gets one. The run must stop without touching what the newer change asked for.
func TestRunSupersededByScaleUp(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3})
	_ = c.Stop(1)
	_ = c.Stop(2) // no leader: the run waits
	require.Eventually(t, func() bool {
		st, err := c.Client(0).Status(ctxFor(t, 5*time.Second))
		return err == nil && st.LeaderID == ""
	}, 20*time.Second, 100*time.Millisecond, "the survivor notices it lost the leader")
	wl := &scaledUpLater{fakeStatefulSet: newFakeStatefulSet(t, c, 3), to: 5}
	raft := &recordingRaft{Raft: serviceClient(c)}
	res, log, err := run(t, ctxFor(t, time.Minute), testConfig(3), raft, wl)
	require.NoError(t, err)
	assert.Contains(t, log, "superseded")
	assert.Equal(t, 5, res.ToReplicas)
	assert.False(t, res.Changed)
	assert.Empty(t, wl.Sets(), "the StatefulSet is not scaled")
	assert.Empty(t, raft.ops("remove"))
}

// supersededWorkload reports a newer shrink Job, as KubeWorkload does when the API server lists one.
type supersededWorkload struct{ *fakeStatefulSet }

func (supersededWorkload) Superseded(context.Context) (string, error) {
	return "rqlite-shrink-to-5-abcdef12", nil
}

func TestRunSupersededByNewerJob(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 5})
	wl := supersededWorkload{newFakeStatefulSet(t, c, 5)}
	raft := &recordingRaft{Raft: serviceClient(c)}
	_, log, err := run(t, ctxFor(t, time.Minute), testConfig(3), raft, wl)
	require.NoError(t, err)
	assert.Contains(t, log, "a newer shrink Job rqlite-shrink-to-5-abcdef12 exists")
	assert.Empty(t, wl.Sets())
	assert.Empty(t, raft.Events())
	voters, _ := members(t, c)
	assert.Len(t, voters, 5)
}
