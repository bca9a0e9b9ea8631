package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
)

// Every node listens on the same ports; nodes differ by loopback address, the
// way pods differ by IP, so advertised addresses look like the real thing.
const (
	rqliteHTTPPort = 4001
	rqliteRaftPort = 4002
)

// RqliteClusterOptions describes a cluster for StartRqliteCluster.
type RqliteClusterOptions struct {
	// Voters is the number of voting nodes (at least 1).
	Voters int
	// NonVoters is the number of read-only nodes joined to the voters.
	NonVoters int
	// ExtraArgs are appended to every node's flags, after the harness's own, so
	// they win for flags given twice (Go's flag package keeps the last value).
	ExtraArgs []string
	// ExtraEnv entries ("K=V") are added to every node's environment.
	ExtraEnv []string
	// VoterIDPrefix and NonVoterIDPrefix name nodes like StatefulSet pods:
	// "<prefix><ordinal>". Defaults "rqlite-" and "rqlite-readonly-".
	VoterIDPrefix    string
	NonVoterIDPrefix string
	// Discovery forms the cluster with -disco-mode=dns and RQLITE_DISCO_DNS_HOSTS
	// (the voters' Raft addresses) instead of -join, as the Kubernetes manifests
	// do with a headless Service. Non-voters get no -bootstrap-expect.
	Discovery bool
	// Username and Password, when set, start every node with an -auth file
	// granting that user all permissions, and -join-as it; Client uses them.
	Username string
	Password string
	// StartTimeout bounds start-up and every wait of the harness (default 60 s).
	StartTimeout time.Duration
	// StopTimeout bounds Stop before it falls back to SIGKILL (default 45 s,
	// which covers -raft-cluster-remove-shutdown's ≈26 s retry without leader).
	StopTimeout time.Duration
	// NoWait returns as soon as the processes are started, for tests of
	// clusters that are not meant to form.
	NoWait bool

	// NodeArgs returns flags for one node, appended after ExtraArgs (and
	// before AddNodeOptions.ExtraArgs), for values that differ per node the
	// way they differ per pod: advertised names, per-pod files.
	NodeArgs func(n *RqliteNode) []string
	// NodeEnv returns "K=V" entries for one node, added after ExtraEnv.
	NodeEnv func(n *RqliteNode) []string
	// HTTPS makes node URLs https://. The certificate reaches the nodes
	// through ExtraArgs or NodeArgs (-http-cert, -http-key).
	HTTPS bool
	// URLHost, when set, is the host a node's URL names instead of its
	// loopback address, e.g. the pod DNS name its certificate is issued for.
	// HTTPClient must then be able to reach that name. It is called once per
	// node, with the cluster's lock held: it must not call the cluster.
	URLHost func(n *RqliteNode) string
	// HTTPClient is used by every client the harness makes: TLS roots,
	// client certificates, a dialer that resolves URLHost names.
	HTTPClient *http.Client
}

// RqliteNode is one rqlited process of a cluster. Fields are fixed for the
// node's life; PID and Running reflect the current process.
type RqliteNode struct {
	Index    int
	ID       string
	Voter    bool   // as started; a later removal or re-join does not change it
	HTTPAddr string // host:port
	RaftAddr string // host:port
	URL      string // http(s)://HTTPAddr, or the URLHost name
	Dir      string // holds data/ and node.log
	DataDir  string
	LogPath  string
	Args     []string // flags of the last start, data dir last

	c         *RqliteCluster
	extraArgs []string
	cmd       *exec.Cmd
	done      chan struct{}
	exitErr   error
	starts    int
}

// PID returns the pid of the current process, or 0 when not running.
func (n *RqliteNode) PID() int {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil || n.exited() {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the node's process is alive.
func (n *RqliteNode) Running() bool {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.cmd != nil && !n.exited()
}

// ExitErr returns how the last process ended (nil for exit 0 or still running).
func (n *RqliteNode) ExitErr() error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.cmd == nil || !n.exited() {
		return nil
	}
	return n.exitErr
}

func (n *RqliteNode) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// RqliteCluster is a set of real rqlited processes on 127.x.y.z addresses.
type RqliteCluster struct {
	t      testing.TB
	bin    string
	opts   RqliteClusterOptions
	block  [2]byte // 127.block[0].block[1].<index+1>
	dir    string
	auth   string // users file, "" without auth
	mu     sync.Mutex
	nodes  []*RqliteNode
	nVoter int
	nRO    int
}

// StartRqliteCluster starts opts.Voters voters and opts.NonVoters non-voters,
// waits for a leader and for every node to be listed and reachable, and
// registers a cleanup that kills every process it started (by process group)
// and prints the tail of each node's log if the test failed.
func StartRqliteCluster(t testing.TB, opts RqliteClusterOptions) *RqliteCluster {
	t.Helper()
	if opts.Voters < 1 {
		t.Fatalf("testenv: RqliteClusterOptions.Voters = %d, need at least 1", opts.Voters)
	}
	if opts.VoterIDPrefix == "" {
		opts.VoterIDPrefix = "rqlite-"
	}
	if opts.NonVoterIDPrefix == "" {
		opts.NonVoterIDPrefix = "rqlite-readonly-"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 45 * time.Second
	}
	c := &RqliteCluster{t: t, bin: Tool(t, "rqlited"), opts: opts, dir: t.TempDir()}
	// Registered after TempDir so it runs before the directory is deleted.
	t.Cleanup(c.cleanup)
	c.block = pickAddressBlock(t, opts.Voters+opts.NonVoters)
	if opts.Username != "" {
		c.auth = filepath.Join(c.dir, "users.json")
		users, _ := json.Marshal([]map[string]any{{
			"username": opts.Username, "password": opts.Password, "perms": []string{"all"},
		}})
		if err := os.WriteFile(c.auth, users, 0o600); err != nil {
			t.Fatalf("testenv: writing users file: %v", err)
		}
	}
	for range opts.Voters {
		c.newNode(true, "")
	}
	for range opts.NonVoters {
		c.newNode(false, "")
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	if opts.NoWait {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	if err := c.waitMembers(ctx, c.nodes); err != nil {
		t.Fatalf("testenv: rqlite cluster did not form within %s: %v", opts.StartTimeout, err)
	}
	return c
}

func (c *RqliteCluster) newNode(voter bool, id string) *RqliteNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		if voter {
			id = fmt.Sprintf("%s%d", c.opts.VoterIDPrefix, c.nVoter)
		} else {
			id = fmt.Sprintf("%s%d", c.opts.NonVoterIDPrefix, c.nRO)
		}
	}
	if voter {
		c.nVoter++
	} else {
		c.nRO++
	}
	idx := len(c.nodes)
	if idx >= 254 {
		c.t.Fatalf("testenv: too many rqlite nodes in one cluster")
	}
	host := fmt.Sprintf("127.%d.%d.%d", c.block[0], c.block[1], idx+1)
	dir := filepath.Join(c.dir, fmt.Sprintf("node%d", idx))
	n := &RqliteNode{
		Index:    idx,
		ID:       id,
		Voter:    voter,
		HTTPAddr: net.JoinHostPort(host, fmt.Sprint(rqliteHTTPPort)),
		RaftAddr: net.JoinHostPort(host, fmt.Sprint(rqliteRaftPort)),
		Dir:      dir,
		DataDir:  filepath.Join(dir, "data"),
		LogPath:  filepath.Join(dir, "node.log"),
		c:        c,
	}
	scheme, urlHost := "http", host
	if c.opts.HTTPS {
		scheme = "https"
	}
	if c.opts.URLHost != nil {
		urlHost = c.opts.URLHost(n)
	}
	n.URL = scheme + "://" + net.JoinHostPort(urlHost, fmt.Sprint(rqliteHTTPPort))
	c.nodes = append(c.nodes, n)
	return n
}

// voterRaftAddrs are the Raft addresses of every node started as a voter, the
// set a headless Service would resolve to.
func (c *RqliteCluster) voterRaftAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.nodes {
		if n.Voter {
			out = append(out, n.RaftAddr)
		}
	}
	return out
}

func (c *RqliteCluster) args(n *RqliteNode) ([]string, []string) {
	args := []string{
		"-node-id", n.ID,
		"-http-addr", n.HTTPAddr, "-http-adv-addr", n.HTTPAddr,
		"-raft-addr", n.RaftAddr, "-raft-adv-addr", n.RaftAddr,
	}
	env := []string{}
	voters := c.voterRaftAddrs()
	initial := c.opts.Voters
	switch {
	case c.opts.Discovery:
		args = append(args, "-disco-mode", "dns")
		env = append(env, "RQLITE_DISCO_DNS_HOSTS="+strings.Join(voters, ","))
		if n.Voter {
			args = append(args, "-bootstrap-expect", fmt.Sprint(initial))
		} else {
			args = append(args, "-raft-non-voter=true")
		}
	case n.Voter && initial == 1 && n.Index == 0:
		// A lone voter with neither -join nor discovery bootstraps itself.
	case n.Voter && n.Index < initial:
		args = append(args, "-bootstrap-expect", fmt.Sprint(initial), "-join", strings.Join(voters[:initial], ","))
	default:
		// Added voters and all non-voters join the running cluster. Retry
		// quickly: they may start while the voters are still electing. rqlited
		// refuses a -join list naming itself unless it bootstraps ("fatal: node
		// cannot join with itself unless bootstrapping"), so leave it out.
		others := slices.DeleteFunc(slices.Clone(voters), func(a string) bool { return a == n.RaftAddr })
		args = append(args, "-join", strings.Join(others, ","), "-join-interval", "250ms", "-join-attempts", "400")
		if !n.Voter {
			args = append(args, "-raft-non-voter=true")
		}
	}
	if c.auth != "" {
		args = append(args, "-auth", c.auth, "-join-as", c.opts.Username)
	}
	args = append(args, c.opts.ExtraArgs...)
	if c.opts.NodeArgs != nil {
		args = append(args, c.opts.NodeArgs(n)...)
	}
	args = append(args, n.extraArgs...)
	env = append(env, c.opts.ExtraEnv...)
	if c.opts.NodeEnv != nil {
		env = append(env, c.opts.NodeEnv(n)...)
	}
	return args, env
}

// starter runs on one OS thread that never exits: Pdeathsig fires when the
// thread that forked the child dies, so forking from arbitrary goroutines would
// kill nodes whenever the Go runtime retires a thread, while this way nodes die
// exactly when the test binary does (even on a timeout panic or SIGKILL, when
// no cleanup runs).
var (
	starterOnce sync.Once
	starterCh   chan startReq
)

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startProcess(cmd *exec.Cmd) error {
	starterOnce.Do(func() {
		starterCh = make(chan startReq)
		go func() {
			runtime.LockOSThread()
			for r := range starterCh {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := startReq{cmd: cmd, done: make(chan error, 1)}
	starterCh <- r
	return <-r.done
}

func (c *RqliteCluster) start(n *RqliteNode) {
	c.t.Helper()
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	for _, addr := range []string{n.HTTPAddr, n.RaftAddr} {
		if err := portFree(addr); err != nil {
			c.t.Fatalf("testenv: starting %s: %v", n.ID, err)
		}
	}
	args, env := c.args(n)
	args = append(args, n.DataDir)
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	n.starts++
	fmt.Fprintf(logf, "=== testenv start #%d: %s %s %s\n", n.starts, strings.Join(env, " "), c.bin, strings.Join(args, " "))
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(filterEnv(os.Environ(), "RQLITE_DISCO_DNS_HOSTS"), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = n.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startProcess(cmd); err != nil {
		logf.Close()
		c.t.Fatalf("testenv: starting %s: %v", n.ID, err)
	}
	done := make(chan struct{})
	c.mu.Lock()
	n.cmd, n.done, n.exitErr, n.Args = cmd, done, nil, args
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		c.mu.Lock()
		n.exitErr = err
		c.mu.Unlock()
		close(done)
	}()
}

func filterEnv(env []string, drop string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, drop+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s is busy: %w", addr, err)
	}
	return l.Close()
}

// pickAddressBlock chooses 127.a.b.0/24 at random and checks that the first n
// addresses' ports are free. Random blocks keep parallel test packages (separate
// processes that cannot coordinate) apart; the check catches the rare clash and
// leftovers of crashed runs. 127.0.x.y is avoided: people run things there.
func pickAddressBlock(t testing.TB, n int) [2]byte {
	t.Helper()
	for range 50 {
		b := [2]byte{byte(16 + rand.IntN(239)), byte(1 + rand.IntN(254))}
		ok := true
		for i := 1; i <= n && ok; i++ {
			host := fmt.Sprintf("127.%d.%d.%d", b[0], b[1], i)
			for _, p := range []int{rqliteHTTPPort, rqliteRaftPort} {
				if portFree(net.JoinHostPort(host, fmt.Sprint(p))) != nil {
					ok = false
					break
				}
			}
		}
		if ok {
			return b
		}
	}
	t.Fatalf("testenv: no free 127.x.y.0/24 block for %d rqlite nodes", n)
	return [2]byte{}
}

// Len returns the number of nodes ever started (stopped and removed ones included).
func (c *RqliteCluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns node i (0-based, in creation order: voters, non-voters, added).
func (c *RqliteCluster) Node(i int) *RqliteNode {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.nodes) {
		c.t.Fatalf("testenv: no rqlite node %d (cluster has %d)", i, len(c.nodes))
	}
	return c.nodes[i]
}

// NodeByID returns the node with the given Raft ID.
func (c *RqliteCluster) NodeByID(id string) *RqliteNode {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	c.t.Fatalf("testenv: no rqlite node with id %q", id)
	return nil
}

// Client returns a client bound to node i only.
func (c *RqliteCluster) Client(i int) *rqlite.Client {
	c.t.Helper()
	return c.client(c.Node(i).URL)
}

// ClusterClient returns a client that knows every node's URL and fails over
// between them when one does not answer.
func (c *RqliteCluster) ClusterClient() *rqlite.Client {
	c.mu.Lock()
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL
	}
	c.mu.Unlock()
	return c.client(urls...)
}

func (c *RqliteCluster) client(urls ...string) *rqlite.Client {
	return rqlite.MustNew(rqlite.Options{
		URLs: urls, Username: c.opts.Username, Password: c.opts.Password, Timeout: 10 * time.Second,
		HTTPClient: c.opts.HTTPClient,
	})
}

// Stop sends SIGTERM to node i and waits for it to exit, escalating to SIGKILL
// after StopTimeout. It returns the process's exit error (nil for exit 0), so
// tests can check how rqlited shut down. Stopping a stopped node is a no-op.
func (c *RqliteCluster) Stop(i int) error {
	c.t.Helper()
	n := c.Node(i)
	if !n.Running() {
		return n.ExitErr()
	}
	c.signal(n, syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(c.opts.StopTimeout):
		c.t.Logf("testenv: %s ignored SIGTERM for %s, killing it", n.ID, c.opts.StopTimeout)
		c.signal(n, syscall.SIGKILL)
		<-n.done
	}
	return n.ExitErr()
}

// Kill sends SIGKILL to node i's process group and waits for it to exit.
func (c *RqliteCluster) Kill(i int) {
	c.t.Helper()
	n := c.Node(i)
	if !n.Running() {
		return
	}
	c.signal(n, syscall.SIGKILL)
	<-n.done
}

func (c *RqliteCluster) signal(n *RqliteNode, sig syscall.Signal) {
	c.mu.Lock()
	pid := n.cmd.Process.Pid
	c.mu.Unlock()
	// Negative pid: the whole process group, in case rqlited ever forks.
	_ = syscall.Kill(-pid, sig)
}

// Start starts stopped node i again with its data dir, identity and flags, and
// waits only until it serves HTTP: a node that was removed from the cluster
// never becomes ready, so readiness is left to the caller (WaitReady).
func (c *RqliteCluster) Start(i int) {
	c.t.Helper()
	n := c.Node(i)
	if n.Running() {
		c.t.Fatalf("testenv: %s is already running", n.ID)
	}
	c.start(n)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	if err := c.waitHTTP(ctx, n); err != nil {
		c.t.Fatalf("testenv: %s did not serve HTTP after start: %v", n.ID, err)
	}
}

// Restart stops node i if it runs (SIGTERM), starts it again with the same
// data dir and identity, and waits until it is ready (leader known).
func (c *RqliteCluster) Restart(i int) {
	c.t.Helper()
	_ = c.Stop(i)
	c.Start(i)
	c.WaitReady(i)
}

// WaitReady waits until each listed node's /readyz is 200 (all running nodes
// when none are listed).
func (c *RqliteCluster) WaitReady(idx ...int) {
	c.t.Helper()
	if len(idx) == 0 {
		for i := range c.Len() {
			if c.Node(i).Running() {
				idx = append(idx, i)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	for _, i := range idx {
		n := c.Node(i)
		if err := c.waitReady(ctx, n); err != nil {
			c.t.Fatalf("testenv: %s not ready within %s: %v", n.ID, c.opts.StartTimeout, err)
		}
	}
}

// AddNodeOptions describes a node for AddNode.
type AddNodeOptions struct {
	NonVoter bool
	// ID defaults to the next free ordinal of the matching prefix.
	ID string
	// ExtraArgs are appended after the cluster's ExtraArgs.
	ExtraArgs []string
	// NoWait returns once the process serves HTTP instead of waiting until it
	// is listed as a reachable member.
	NoWait bool
}

// AddNode starts a new node that joins the running cluster (through -join,
// or discovery when the cluster uses it) and returns its index.
func (c *RqliteCluster) AddNode(opts AddNodeOptions) int {
	c.t.Helper()
	n := c.newNode(!opts.NonVoter, opts.ID)
	n.extraArgs = append([]string(nil), opts.ExtraArgs...)
	c.start(n)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	var err error
	if opts.NoWait {
		err = c.waitHTTP(ctx, n)
	} else {
		err = c.waitMembers(ctx, []*RqliteNode{n})
	}
	if err != nil {
		c.t.Fatalf("testenv: added node %s did not come up: %v", n.ID, err)
	}
	return n.Index
}

// LeaderIndex waits for a leader among the running nodes and returns its index.
func (c *RqliteCluster) LeaderIndex() int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	var last error
	for {
		for i := range c.Len() {
			n := c.Node(i)
			if !n.Running() {
				continue
			}
			st, err := c.client(n.URL).Status(ctx)
			if err != nil {
				last = err
				continue
			}
			if st.RaftState == "Leader" {
				return i
			}
			last = fmt.Errorf("%s is %s, leader %q", n.ID, st.RaftState, st.LeaderID)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			c.t.Fatalf("testenv: no rqlite leader within %s: %v", c.opts.StartTimeout, last)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (c *RqliteCluster) waitHTTP(ctx context.Context, n *RqliteNode) error {
	cl := c.client(n.URL)
	for {
		_, err := cl.Ready(ctx, rqlite.ReadyOptions{NoLeader: true})
		if err == nil {
			return nil
		}
		if !n.Running() {
			return fmt.Errorf("process exited (%v)", n.ExitErr())
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return err
		}
	}
}

func (c *RqliteCluster) waitReady(ctx context.Context, n *RqliteNode) error {
	cl := c.client(n.URL)
	for {
		body, err := cl.Ready(ctx, rqlite.ReadyOptions{Timeout: 2 * time.Second})
		if err == nil {
			return nil
		}
		if !n.Running() {
			return fmt.Errorf("process exited (%v)", n.ExitErr())
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("%v (last body %q)", err, body)
		}
	}
}

// waitMembers waits until every listed node is ready and the leader lists it
// as a reachable member with the expected suffrage.
func (c *RqliteCluster) waitMembers(ctx context.Context, want []*RqliteNode) error {
	for _, n := range want {
		if err := c.waitReady(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", n.ID, err)
		}
	}
	cl := c.client(want[0].URL)
	var last error
	for {
		last = func() error {
			l, err := cl.Leader(ctx)
			if err != nil {
				return err
			}
			nodes, err := c.client(l.APIAddr).Nodes(ctx)
			if err != nil {
				return err
			}
			byID := map[string]rqlite.Node{}
			for _, m := range nodes {
				byID[m.ID] = m
			}
			for _, n := range want {
				m, ok := byID[n.ID]
				switch {
				case !ok:
					return fmt.Errorf("%s not yet a member", n.ID)
				case m.Voter != n.Voter:
					return fmt.Errorf("%s has voter=%v, want %v", n.ID, m.Voter, n.Voter)
				case !m.Reachable:
					return fmt.Errorf("%s unreachable: %s", n.ID, m.Error)
				}
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return last
		}
	}
}

// LogTail returns the last lines of node i's log.
func (c *RqliteCluster) LogTail(i, lines int) string {
	n := c.Node(i)
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(b, lines)
}

func tail(b []byte, lines int) string {
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (c *RqliteCluster) cleanup() {
	c.mu.Lock()
	nodes := append([]*RqliteNode(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		if n.cmd != nil && n.Running() {
			c.signal(n, syscall.SIGKILL)
			<-n.done
		}
	}
	if c.t.Failed() {
		for _, n := range nodes {
			c.t.Logf("testenv: ---- %s (%s) log tail ----\n%s", n.ID, n.URL, c.LogTail(n.Index, 40))
		}
	}
}
