package testenv

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
)

func rqliteMembers(t *testing.T, c *RqliteCluster, i int) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := c.Client(i).Nodes(ctx)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, n := range nodes {
		out[n.ID] = n.Voter
	}
	return out
}

// assertMembersEventually waits until node i lists exactly want. Only the
// leader's view changes when a configuration is appended; a follower's
// changes when the leader's next append reaches it, which may be after the
// change is committed by the others and the harness has moved on.
func assertMembersEventually(t *testing.T, c *RqliteCluster, i int, want map[string]bool) {
	t.Helper()
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nodes, err := c.Client(i).Nodes(ctx)
		if !assert.NoError(ct, err) {
			return
		}
		got := map[string]bool{}
		for _, n := range nodes {
			got[n.ID] = n.Voter
		}
		assert.Equal(ct, want, got, "members in %s's view", c.Node(i).ID)
	}, 10*time.Second, 50*time.Millisecond)
}

func TestRqliteClusterLifecycle(t *testing.T) {
	start := time.Now()
	c := StartRqliteCluster(t, RqliteClusterOptions{Voters: 3, NonVoters: 1})
	t.Logf("3+1 cluster formed in %s", time.Since(start).Round(time.Millisecond))
	require.Equal(t, 4, c.Len())
	assert.Equal(t, map[string]bool{"rqlite-0": true, "rqlite-1": true, "rqlite-2": true, "rqlite-readonly-0": false},
		rqliteMembers(t, c, 0))

	var pids []int
	for i := range 4 {
		n := c.Node(i)
		assert.True(t, n.Running())
		assert.NotZero(t, n.PID())
		assert.NotContains(t, pids, n.PID())
		pids = append(pids, n.PID())
		assert.Contains(t, n.HTTPAddr, ":4001")
		assert.Contains(t, n.RaftAddr, ":4002")
		assert.Same(t, n, c.NodeByID(n.ID))
	}

	li := c.LeaderIndex()
	follower := (li + 1) % 3

	// SIGTERM: rqlited exits 0.
	require.NoError(t, c.Stop(follower))
	assert.False(t, c.Node(follower).Running())
	assert.Zero(t, c.Node(follower).PID())
	require.NoError(t, c.Stop(follower), "stopping a stopped node is a no-op")
	c.Restart(follower)
	assert.True(t, c.Node(follower).Running())
	assert.NotEqual(t, pids[follower], c.Node(follower).PID())

	// SIGKILL the leader: the others elect a new one; the old one rejoins with
	// its data and identity.
	c.Kill(li)
	var exitErr interface{ ExitCode() int }
	require.ErrorAs(t, c.Node(li).ExitErr(), &exitErr)
	assert.Equal(t, -1, exitErr.ExitCode(), "killed by a signal")
	assert.NotEqual(t, li, c.LeaderIndex())
	c.Restart(li)
	c.WaitReady()

	v := c.AddNode(AddNodeOptions{})
	ro := c.AddNode(AddNodeOptions{NonVoter: true})
	assert.Equal(t, "rqlite-3", c.Node(v).ID)
	assert.Equal(t, "rqlite-readonly-1", c.Node(ro).ID)
	want := map[string]bool{
		"rqlite-0": true, "rqlite-1": true, "rqlite-2": true, "rqlite-3": true,
		"rqlite-readonly-0": false, "rqlite-readonly-1": false,
	}
	assert.Equal(t, want, rqliteMembers(t, c, c.LeaderIndex()))
	// v was added before ro: it learns of ro on the leader's next append.
	assertMembersEventually(t, c, v, want)
	assert.Contains(t, c.LogTail(v, 100), "successfully joined cluster")
}

func TestRqliteClusterCleanupKillsEverything(t *testing.T) {
	var pids []int
	t.Run("cluster", func(t *testing.T) {
		c := StartRqliteCluster(t, RqliteClusterOptions{Voters: 1, NonVoters: 1})
		for i := range c.Len() {
			pids = append(pids, c.Node(i).PID())
		}
	})
	require.Len(t, pids, 2)
	for _, pid := range pids {
		err := syscall.Kill(pid, 0)
		assert.True(t, errors.Is(err, syscall.ESRCH), "pid %d still exists after cleanup (%v)", pid, err)
	}
}

// The Kubernetes manifests use DNS discovery; RQLITE_DISCO_DNS_HOSTS stands in
// for the headless Service. The non-voter gets no -bootstrap-expect and must
// still join.
func TestRqliteClusterDiscovery(t *testing.T) {
	c := StartRqliteCluster(t, RqliteClusterOptions{Voters: 3, NonVoters: 1, Discovery: true})
	assert.Contains(t, c.Node(0).Args, "-bootstrap-expect")
	assert.Contains(t, c.Node(0).Args, "dns")
	assert.NotContains(t, c.Node(3).Args, "-bootstrap-expect")
	assert.NotContains(t, c.Node(3).Args, "-join")
	assert.Contains(t, c.Node(3).Args, "-raft-non-voter=true")
	assertMembersEventually(t, c, 3,
		map[string]bool{"rqlite-0": true, "rqlite-1": true, "rqlite-2": true, "rqlite-readonly-0": false})

	// Scale-up: a fourth voter started with -bootstrap-expect 3 and the
	// discovery list joins the running cluster instead of bootstrapping.
	v := c.AddNode(AddNodeOptions{})
	assert.True(t, rqliteMembers(t, c, v)["rqlite-3"])
}

func TestRqliteClusterSingleVoterThenGrow(t *testing.T) {
	c := StartRqliteCluster(t, RqliteClusterOptions{Voters: 1, VoterIDPrefix: "db-"})
	assert.NotContains(t, c.Node(0).Args, "-join")
	assert.Equal(t, 0, c.LeaderIndex())
	v := c.AddNode(AddNodeOptions{})
	assert.Equal(t, "db-1", c.Node(v).ID)
	assert.Equal(t, map[string]bool{"db-0": true, "db-1": true}, rqliteMembers(t, c, 0))
}

// -raft-cluster-remove-shutdown makes a SIGTERMed node remove itself first;
// the shrink design leans on it, so keep it measured.
func TestRqliteClusterRemoveOnShutdown(t *testing.T) {
	c := StartRqliteCluster(t, RqliteClusterOptions{Voters: 3, ExtraArgs: []string{"-raft-cluster-remove-shutdown=true"}})
	victim := (c.LeaderIndex() + 2) % 3
	start := time.Now()
	require.NoError(t, c.Stop(victim))
	t.Logf("voter stopped and removed itself in %s", time.Since(start).Round(time.Millisecond))
	other := (victim + 1) % 3
	members := rqliteMembers(t, c, other)
	assert.Len(t, members, 2)
	assert.NotContains(t, members, c.Node(victim).ID)
	assert.Contains(t, c.LogTail(victim, 20), "removed this node successfully from cluster before shutdown")
}

func TestRqliteClusterExtraArgsAndAuth(t *testing.T) {
	c := StartRqliteCluster(t, RqliteClusterOptions{
		Voters: 2, NonVoters: 1, Username: "u", Password: "p",
		ExtraArgs: []string{"-fk=true"},
	})
	for i := range 3 {
		args := c.Node(i).Args
		assert.Equal(t, "-fk=true", args[len(args)-2], "extra args come last, before the data dir")
		assert.True(t, slices.Contains(args, "-join-as"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := rqlite.MustNew(rqlite.Options{URLs: []string{c.Node(2).URL}}).Nodes(ctx)
	assert.Equal(t, 401, rqlite.StatusCode(err))
	_, err = c.ClusterClient().Execute(ctx,
		rqlite.Stmt("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
		rqlite.Stmt("CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id))"))
	require.NoError(t, err)
	_, err = c.Client(1).Execute(ctx, rqlite.Stmt("INSERT INTO c(p) VALUES(42)"))
	assert.ErrorContains(t, err, "FOREIGN KEY", "-fk reached rqlited")
}
