package rqlite_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// Tests against real rqlited v8.43.4 processes. Node indexes: 0..2 voters
// rqlite-0..2, 3 the non-voter rqlite-readonly-0.

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func ids(nodes []rqlite.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func TestClientRealNodesStatusLeader(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	ctx := ctxT(t, 30*time.Second)

	li := c.LeaderIndex()
	for i := range 4 {
		nodes, err := c.Client(i).Nodes(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"rqlite-0", "rqlite-1", "rqlite-2", "rqlite-readonly-0"}, ids(nodes), "asked node %d", i)
		leaders := 0
		for j, n := range nodes {
			assert.Equal(t, j < 3, n.Voter, n.ID)
			assert.True(t, n.Reachable, n.ID)
			assert.Empty(t, n.Error, n.ID)
			assert.Equal(t, c.Node(j).URL, n.APIAddr)
			assert.Equal(t, c.Node(j).RaftAddr, n.Addr)
			assert.Equal(t, "v8.43.4", n.Version)
			if n.Leader {
				leaders++
				assert.Equal(t, li, j)
			}
		}
		assert.Equal(t, 1, leaders)

		l, err := c.Client(i).Leader(ctx)
		require.NoError(t, err)
		assert.Equal(t, c.Node(li).ID, l.ID)

		st, err := c.Client(i).Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, c.Node(i).ID, st.NodeID)
		assert.Equal(t, c.Node(li).ID, st.LeaderID)
		assert.Equal(t, c.Node(li).RaftAddr, st.LeaderAddr)
		assert.Equal(t, c.Node(i).RaftAddr, st.RaftAddr)
		assert.Equal(t, i < 3, st.Voter)
		assert.True(t, st.Ready)
		assert.Equal(t, "v8.43.4", st.Version)
		if i == li {
			assert.Equal(t, "Leader", st.RaftState)
		} else {
			assert.Equal(t, "Follower", st.RaftState)
		}
	}

	// The /nodes "time" field is measured before the probe starts, so it is
	// always nanoseconds: useless as a latency signal.
	nodes, err := c.Client(0).Nodes(ctx)
	require.NoError(t, err)
	for _, n := range nodes {
		assert.Less(t, n.Time, time.Millisecond, n.ID)
	}

	// A dead member stays listed, unreachable, with the dial error.
	c.Kill(3)
	nodes, err = c.Client(li).Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 4)
	assert.False(t, nodes[3].Reachable)
	assert.Empty(t, nodes[3].APIAddr)
	assert.NotEmpty(t, nodes[3].Error)
	t.Logf("unreachable member: %+v", nodes[3])
}

func TestClientRealExecuteQuery(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	ctx := ctxT(t, 30*time.Second)
	li := c.LeaderIndex()
	follower := (li + 1) % 3

	// Writes through a follower are forwarded to the leader.
	res, err := c.Client(follower).Execute(ctx,
		rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)"),
		rqlite.Stmt("INSERT INTO t(name, n) VALUES(?, ?)", "a", 9007199254740993),
		rqlite.Stmt("INSERT INTO t(name, n) VALUES(?, ?)", "b", nil),
	)
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, rqlite.ExecuteResult{LastInsertID: 2, RowsAffected: 1}, res[2])

	for _, level := range []string{"", rqlite.LevelWeak, rqlite.LevelStrong, rqlite.LevelLinearizable, rqlite.LevelAuto} {
		rows, err := c.Client(follower).Query(ctx, level, "SELECT name, n FROM t WHERE id >= ? ORDER BY id", 1)
		require.NoError(t, err, "level %q", level)
		assert.Equal(t, []string{"name", "n"}, rows.Columns)
		assert.Equal(t, []string{"text", "integer"}, rows.Types)
		assert.Equal(t, [][]any{{"a", json.Number("9007199254740993")}, {"b", nil}}, rows.Values, "level %q", level)
	}

	// level=none reads the local copy; after a sync readiness check the
	// non-voter has everything.
	_, err = c.Client(3).Ready(ctx, rqlite.ReadyOptions{Sync: true, Timeout: 5 * time.Second})
	require.NoError(t, err)
	rows, err := c.Client(3).Query(ctx, rqlite.LevelNone, "SELECT COUNT(*) FROM t")
	require.NoError(t, err)
	assert.Equal(t, [][]any{{json.Number("2")}}, rows.Values)

	// A failed freshness check is HTTP 200 with "error":"stale read" in the body.
	// 1ns is always exceeded since the last leader contact, even when healthy.
	_, err = c.Client(3).QueryStatements(ctx, rqlite.QueryOptions{Level: rqlite.LevelNone, Freshness: time.Nanosecond},
		rqlite.Stmt("SELECT 1"))
	var re *rqlite.ResultError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "stale read", re.Message)
	_, err = c.Client(3).QueryStatements(ctx, rqlite.QueryOptions{Level: rqlite.LevelNone, Freshness: time.Minute, FreshnessStrict: true},
		rqlite.Stmt("SELECT 1"))
	assert.NoError(t, err)

	// Per-statement SQL errors come back in a 200 too.
	_, err = c.Client(li).Query(ctx, "", "SELECT * FROM nope")
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Message, "no such table")
	res, err = c.Client(li).Execute(ctx,
		rqlite.Stmt("INSERT INTO t(id, name) VALUES(?, ?)", 10, "c"),
		rqlite.Stmt("INSERT INTO t(id, name) VALUES(?, ?)", 10, "dup"))
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.Index)
	assert.Contains(t, re.Message, "UNIQUE")
	assert.Equal(t, int64(1), res[0].RowsAffected, "statements are not in a transaction: the first one stays")

	// With Redirect a follower answers 301 to the leader and the client
	// re-sends the body there.
	rc := rqlite.MustNew(rqlite.Options{URLs: []string{c.Node(follower).URL}, Redirect: true})
	_, err = rc.Execute(ctx, rqlite.Stmt("INSERT INTO t(name) VALUES(?)", "via-redirect"))
	require.NoError(t, err)
	rows, err = rc.Query(ctx, rqlite.LevelStrong, "SELECT COUNT(*) FROM t WHERE name = ?", "via-redirect")
	require.NoError(t, err)
	assert.Equal(t, [][]any{{json.Number("1")}}, rows.Values)
	require.NoError(t, rc.Remove(ctx, "no-such-node"))
}

func TestClientRealReady(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	ctx := ctxT(t, 60*time.Second)

	for i := range 4 {
		cl := c.Client(i)
		body, err := cl.Ready(ctx, rqlite.ReadyOptions{})
		require.NoError(t, err)
		assert.Equal(t, "[+]node ok\n[+]leader ok\n[+]store ok", body)
		body, err = cl.Ready(ctx, rqlite.ReadyOptions{NoLeader: true})
		require.NoError(t, err)
		assert.Equal(t, "[+]node ok", body)
		body, err = cl.Ready(ctx, rqlite.ReadyOptions{Sync: true, Timeout: 2 * time.Second})
		require.NoError(t, err)
		assert.Equal(t, "[+]node ok\n[+]leader ok\n[+]store ok\n[+]sync ok", body)
	}

	// Lose quorum: kill two voters, keep one voter and the non-voter.
	li := c.LeaderIndex()
	survivor := (li + 1) % 3
	for i := range 3 {
		if i != survivor {
			c.Kill(i)
		}
	}
	for _, i := range []int{survivor, 3} {
		cl := c.Client(i)
		// Right after the leader dies the node still knows its address and
		// answers 503 "leader not contactable"; once it forgets the leader,
		// 500 "leader address: leader not found". Wait for the steady state.
		var body string
		var err error
		require.Eventually(t, func() bool {
			body, err = cl.Ready(ctx, rqlite.ReadyOptions{})
			return rqlite.StatusCode(err) == http.StatusInternalServerError
		}, 20*time.Second, 100*time.Millisecond, "node %d: last %v", i, err)
		assert.Contains(t, body, "leader not found")

		body, err = cl.Ready(ctx, rqlite.ReadyOptions{Sync: true, Timeout: time.Second})
		assert.Equal(t, http.StatusInternalServerError, rqlite.StatusCode(err), "%v", err)
		assert.Contains(t, body, "leader not found")

		body, err = cl.Ready(ctx, rqlite.ReadyOptions{NoLeader: true})
		require.NoError(t, err)
		assert.Equal(t, "[+]node ok", body)

		_, err = cl.Leader(ctx)
		assert.ErrorIs(t, err, rqlite.ErrNoLeader)
		st, err := cl.Status(ctx)
		require.NoError(t, err)
		assert.Empty(t, st.LeaderID)
		assert.False(t, st.Ready)
	}
}

func TestClientRealRemove(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	ctx := ctxT(t, 60*time.Second)
	all := []string{"rqlite-0", "rqlite-1", "rqlite-2", "rqlite-readonly-0"}
	members := func(i int) []string {
		nodes, err := c.Client(i).Nodes(ctx)
		require.NoError(t, err)
		return ids(nodes)
	}

	// Unknown id: rqlite answers 200 and nothing changes.
	require.NoError(t, c.Client(1).Remove(ctx, "rqlite-7"))
	assert.Equal(t, all, members(0))
	was, err := c.Client(1).RemoveAndConfirm(ctx, "rqlite-7")
	require.NoError(t, err)
	assert.False(t, was, "absent id must be reported as a no-op")
	assert.Equal(t, all, members(0))

	// Non-voter, asked through a follower (forwarded to the leader).
	li := c.LeaderIndex()
	follower := (li + 1) % 3
	was, err = c.Client(follower).RemoveAndConfirm(ctx, "rqlite-readonly-0")
	require.NoError(t, err)
	assert.True(t, was)
	// RemoveAndConfirm polled the asked follower, and the leader applies a
	// configuration as soon as it appends it: both views have dropped the
	// node. The other voter learns of it on its next append.
	assert.Equal(t, all[:3], members(follower))
	assert.Equal(t, all[:3], members(li))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for i := range 3 {
			nodes, err := c.Client(i).Nodes(ctx)
			if assert.NoError(ct, err) {
				assert.Equal(ct, all[:3], ids(nodes), "node %d", i)
			}
		}
	}, 10*time.Second, 50*time.Millisecond)
	// The removed node keeps running, and its own view is not to be trusted:
	// Raft does not promise a removed node ever receives the configuration
	// that drops it (the leader may stop replicating to it first), so it may
	// still list itself. It can also report ready for a few seconds (until its
	// leader contact times out): neither its view nor its readiness is proof
	// of membership.
	assert.True(t, c.Node(3).Running())
	own, err := c.Client(3).Nodes(ctx)
	require.NoError(t, err)
	t.Logf("the removed node's own view: %v", ids(own))
	c.Kill(3)

	// A stopped voter (what a StatefulSet scale-down leaves behind).
	require.NoError(t, c.Stop(2-boolInt(li == 2)))
	gone := c.Node(2 - boolInt(li == 2)).ID
	was, err = c.Client(li).RemoveAndConfirm(ctx, gone)
	require.NoError(t, err)
	assert.True(t, was)
	assert.NotContains(t, members(li), gone)

	// Removing the leader works; the remaining voter then elects itself.
	var remaining int
	for i := range 3 {
		if i != li && c.Node(i).ID != gone {
			remaining = i
		}
	}
	start := time.Now()
	was, err = c.Client(remaining).RemoveAndConfirm(ctx, c.Node(li).ID)
	require.NoError(t, err)
	assert.True(t, was)
	require.Eventually(t, func() bool {
		l, err := c.Client(remaining).Leader(ctx)
		return err == nil && l.ID == c.Node(remaining).ID
	}, 20*time.Second, 50*time.Millisecond)
	t.Logf("leaderless after removing the leader for %s", time.Since(start).Round(10*time.Millisecond))
	assert.Equal(t, []string{c.Node(remaining).ID}, members(remaining))

	// Confirmation is bounded by ctx when the id does not go away: a member
	// that is removed from a node nobody listens to (bogus base URL) errors.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = rqlite.MustNew(rqlite.Options{URLs: []string{"http://127.0.0.1:1"}}).RemoveAndConfirm(short, "x")
	assert.Error(t, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestClientRealTransferLeadership(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, NonVoters: 1})
	ctx := ctxT(t, 60*time.Second)
	// The non-voter learns of a new leader on its first heartbeat and may name
	// none, or the previous one, until then.
	leaderID := func() string {
		var l rqlite.Node
		var err error
		require.Eventually(t, func() bool {
			l, err = c.Client(3).Leader(ctx)
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "%v", err)
		return l.ID
	}
	eventuallyLeader := func(want string) {
		require.Eventually(t, func() bool { return leaderID() == want }, 10*time.Second, 20*time.Millisecond, "want leader %s", want)
	}
	statusOf := func(id string) rqlite.Status {
		st, err := c.Client(c.NodeByID(id).Index).Status(ctx)
		require.NoError(t, err)
		return st
	}

	// Ask each voter in turn to become leader, sending the request to the
	// target itself (rqlite alone would answer 500 "cannot transfer leadership
	// to itself"), then through the non-voter.
	for round, via := range []string{"target", "non-voter"} {
		for i := range 3 {
			target := c.Node((i + round) % 3).ID
			asked := (i + round) % 3
			if via == "non-voter" {
				asked = 3
			}
			require.NoError(t, c.Client(asked).TransferLeadership(ctx, target), "to %s via %s", target, via)
			// Returning means the target itself already says so.
			assert.Equal(t, "Leader", statusOf(target).RaftState)
			eventuallyLeader(target)
		}
	}

	// To the current leader: no-op.
	cur := leaderID()
	require.NoError(t, c.Client(0).TransferLeadership(ctx, cur))
	assert.Equal(t, "Leader", statusOf(cur).RaftState)

	// Non-voter and unknown targets are refused without disturbing the leader.
	err := c.Client(0).TransferLeadership(ctx, "rqlite-readonly-0")
	assert.ErrorContains(t, err, "non-voter")
	err = c.Client(0).TransferLeadership(ctx, "rqlite-9")
	assert.ErrorContains(t, err, "not a member")
	assert.Equal(t, "Leader", statusOf(cur).RaftState)

	// Empty id: any other voter.
	require.NoError(t, c.Client(3).TransferLeadership(ctx, ""))
	assert.NotEqual(t, "Leader", statusOf(cur).RaftState)
	var next string
	require.Eventually(t, func() bool { next = leaderID(); return next != cur }, 10*time.Second, 20*time.Millisecond)
	assert.True(t, slices.Contains([]string{"rqlite-0", "rqlite-1", "rqlite-2"}, next))

	// An unreachable target is refused up front.
	other := c.Node((c.NodeByID(next).Index + 1) % 3)
	c.Kill(other.Index)
	require.Eventually(t, func() bool {
		nodes, err := c.Client(3).Nodes(ctx)
		return err == nil && !nodes[other.Index].Reachable
	}, 10*time.Second, 20*time.Millisecond)
	assert.ErrorContains(t, c.Client(3).TransferLeadership(ctx, other.ID), "unreachable")
}

func TestClientRealAuth(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, Username: "admin", Password: "s3cret"})
	ctx := ctxT(t, 30*time.Second)

	anon := rqlite.MustNew(rqlite.Options{URLs: []string{c.Node(0).URL}})
	_, err := anon.Nodes(ctx)
	assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(err), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(anon.Remove(ctx, "rqlite-2")))

	wrong := rqlite.MustNew(rqlite.Options{URLs: []string{c.Node(0).URL}, Username: "admin", Password: "nope"})
	_, err = wrong.Ready(ctx, rqlite.ReadyOptions{})
	assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(err), "%v", err)

	nodes, err := c.Client(0).Nodes(ctx)
	require.NoError(t, err)
	assert.Len(t, nodes, 3)
	ti := (c.LeaderIndex() + 1) % 3
	target := c.Node(ti).ID
	require.NoError(t, c.Client(0).TransferLeadership(ctx, target))

	// A write through a follower is forwarded to the new leader with the
	// caller's credentials. TransferLeadership only promises that the target
	// says it is leader: the other voters saw its election (which makes them
	// forget the old leader) and learn the new one on its first heartbeat, so
	// until then a write there fails with HTTP 500 "leader address: leader not
	// found" (1 in 20 runs under load). Wait for the follower to name it.
	follower := (ti + 1) % 3
	require.Eventually(t, func() bool {
		st, err := c.Client(follower).Status(ctx)
		return err == nil && st.LeaderID == target
	}, 10*time.Second, 20*time.Millisecond, "%s never named %s leader", c.Node(follower).ID, target)
	_, err = c.Client(follower).Execute(ctx, rqlite.Stmt("CREATE TABLE x (id INTEGER)"))
	require.NoError(t, err)
	_, err = anon.Execute(ctx, rqlite.Stmt("CREATE TABLE y (id INTEGER)"))
	assert.Equal(t, http.StatusUnauthorized, rqlite.StatusCode(err), "%v", err)
}

func TestClientRealClusterClientFailsOver(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3})
	ctx := ctxT(t, 30*time.Second)
	cc := c.ClusterClient()
	require.NoError(t, c.Stop(0))
	nodes, err := cc.Nodes(ctx)
	require.NoError(t, err)
	assert.Len(t, nodes, 3)
	assert.False(t, nodes[0].Reachable)
}
