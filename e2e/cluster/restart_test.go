package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
)

// TestRecreatedPodRejoinsWithoutMembershipChange: a pod deleted and recreated by its StatefulSet
// (same name, same volume, a new Pod UID and a new IP) comes back as the same node. A voter, the
// leader included, keeps its place in the Raft configuration throughout (polled every 100 ms: it
// is never missing, so nobody removed and re-added it), and serves every row from its volume.
// A read-only node leaves the configuration on SIGTERM by design (a scaled-down pool cleans up
// after itself) and joins again under the same ID, ending with the same membership.
//
// How long each came back in is logged, not asserted: durations are benchmarks' business here.
func TestRecreatedPodRejoinsWithoutMembershipChange(t *testing.T) {
	e := newEnv(t, "restart")
	e.apply(e.render(3, 1))
	voters, pool := names("rqlite", 3), names("rqlite-readonly", 1)
	all := append(append([]string{}, voters...), pool...)
	e.waitReady(2*time.Minute, all...)
	e.waitMembership(60*time.Second, e.client(voters...), voters, pool)
	e.waitShrinkJob(60 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := e.client(voters...).Execute(ctx, rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
		t.Fatal(err)
	}
	rows := 0
	insert := func(n int) {
		t.Helper()
		cl := e.client(voters...)
		for range n {
			if _, err := cl.Execute(ctx, rqlite.Stmt("INSERT INTO t(v) VALUES(?)", fmt.Sprint("row", rows))); err != nil {
				t.Fatalf("insert: %v", err)
			}
			rows++
		}
	}
	insert(10)

	leader := func() string {
		t.Helper()
		n, err := e.client(voters...).Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n.ID
	}
	first := leader()
	follower := "rqlite-1"
	if first == follower {
		follower = "rqlite-2"
	}
	// A follower first, then the leader, then the read-only node.
	for _, p := range []string{follower, first, pool[0]} {
		isVoter := !strings.HasPrefix(p, "rqlite-readonly")
		var others []string
		for _, v := range voters {
			if v != p {
				others = append(others, v)
			}
		}
		w := watchMember(e.client(others...), p)
		started := time.Now()
		e.replacePod(2*time.Minute, p)
		took := time.Since(started)
		e.waitMembership(60*time.Second, e.client(voters...), voters, pool)
		polls, absent, other := w.halt()
		t.Logf("%s (voter %t): Ready again %v after the delete; absent from the configuration in %d of %d polls",
			p, isVoter, took.Round(10*time.Millisecond), absent, polls)

		if logs := e.agent.Logs(p, "rqlite"); !strings.Contains(logs, "preexisting node state detected") {
			t.Errorf("%s did not restart from its volume; log tail:\n%s", p, tail(logs, 15))
		}
		if polls < 10 {
			t.Errorf("%s: only %d membership polls during the restart", p, polls)
		}
		if isVoter && absent > 0 {
			t.Errorf("%s: missing from the Raft configuration in %d of %d polls: the voter was removed and re-added", p, absent, polls)
		}
		if len(other) > 0 {
			t.Errorf("%s: other members changed meanwhile: %v", p, other)
		}
		insert(5)
		e.waitRows(30*time.Second, p, rqlite.LevelNone, rows)
	}
	if l := leader(); l == "" {
		t.Fatal("no leader at the end")
	}
}

// memberWatch polls the configuration (GET /nodes?nonvoters) through the other voters every
// 100 ms and counts the polls in which the watched node is not a member. A remove and re-add
// leaves it out for at least the time it takes to restart and join again, seconds, so a voter
// that keeps its place is never missed.
type memberWatch struct {
	stop chan struct{}
	done chan struct{}

	polls, absent int
	baseline      []string
	other         []string // member sets seen that differ from the baseline in other nodes
}

func watchMember(cl *rqlite.Client, id string) *memberWatch {
	w := &memberWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			nodes, err := cl.Nodes(ctx)
			cancel()
			if err == nil {
				var rest []string
				found := false
				for _, n := range nodes {
					if n.ID == id {
						found = true
					} else {
						rest = append(rest, fmt.Sprintf("%s(voter %t)", n.ID, n.Voter))
					}
				}
				slices.Sort(rest)
				w.polls++
				if !found {
					w.absent++
				}
				switch {
				case w.baseline == nil:
					w.baseline = rest
				case !slices.Equal(rest, w.baseline):
					w.other = append(w.other, strings.Join(rest, " "))
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *memberWatch) halt() (polls, absent int, other []string) {
	close(w.stop)
	<-w.done
	return w.polls, w.absent, w.other
}
