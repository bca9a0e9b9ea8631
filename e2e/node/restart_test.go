package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRecreatedVoterRejoinsOnRealNode is the voters' half of e2e/cluster's
// TestRecreatedPodRejoinsWithoutMembershipChange on the real node, with its pass criteria: a
// voter deleted and recreated by its StatefulSet (same name, same local PersistentVolume, a new
// Pod UID and a new pod IP from the CNI bridge), a follower and then the leader, restarts from
// its volume, is never missing from the Raft configuration (polled every 100 ms), leaves the
// other members unchanged and serves every row. The read-only half is not moved yet.
func TestRecreatedVoterRejoinsOnRealNode(t *testing.T) {
	e := newEnv(t, "restart")
	e.apply(e.render(3))
	voters := names(3)
	e.waitReady(3*time.Minute, voters...)
	e.waitMembership(60*time.Second, voters)
	e.waitJobComplete(2 * time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	leader, err := e.client(voters...).Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := "rqlite-1"
	if leader.ID == follower {
		follower = "rqlite-2"
	}
	for _, p := range []string{follower, leader.ID} {
		var others []string
		for _, v := range voters {
			if v != p {
				others = append(others, v)
			}
		}
		oldIP := e.pod(p).Status.PodIP
		w := watchMember(e.client(others...), p)
		started := time.Now()
		e.replacePod(3*time.Minute, p)
		took := time.Since(started)
		e.waitMembership(60*time.Second, voters)
		polls, absent, other := w.halt()
		pod := e.pod(p)
		t.Logf("%s: Ready again %v after the delete (IP %s, was %s); absent from the configuration in %d of %d polls",
			p, took.Round(10*time.Millisecond), pod.Status.PodIP, oldIP, absent, polls)

		logs, err := node.ContainerLogs(e.ns, p, string(pod.UID), "rqlite")
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if !strings.Contains(logs, "preexisting node state detected") {
			t.Errorf("%s did not restart from its volume; log:\n%s", p, logs)
		}
		if polls < 10 {
			t.Errorf("%s: only %d membership polls during the restart", p, polls)
		}
		if absent > 0 {
			t.Errorf("%s: missing from the Raft configuration in %d of %d polls: the voter was removed and re-added", p, absent, polls)
		}
		if len(other) > 0 {
			t.Errorf("%s: other members changed meanwhile: %v", p, other)
		}
		insert(5)
		e.waitRows(30*time.Second, p, rqlite.LevelNone, rows)
	}
}

// replacePod deletes a pod and waits for its StatefulSet's new incarnation to be Ready.
func (e *env) replacePod(timeout time.Duration, name string) {
	e.t.Helper()
	old := e.pod(name).UID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := node.Client().CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
	cancel()
	if err != nil {
		e.t.Fatalf("delete pod %s: %v", name, err)
	}
	e.waitFor(timeout, name+" replaced and Ready", func(ctx context.Context) error {
		p, err := node.Client().CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == old {
			return errors.New("old incarnation still there")
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("new incarnation %s not Ready (phase %s)", p.UID, p.Status.Phase)
	})
}

// waitRows waits until a pod serves n rows of table t at the given read level.
func (e *env) waitRows(timeout time.Duration, pod, level string, n int) {
	e.t.Helper()
	cl := e.client(pod)
	e.waitFor(timeout, fmt.Sprintf("%s serves %d rows at level %s", pod, n, level), func(ctx context.Context) error {
		res, err := cl.Query(ctx, level, "SELECT COUNT(*) FROM t")
		if err != nil {
			return err
		}
		if len(res.Values) != 1 || len(res.Values[0]) != 1 {
			return fmt.Errorf("result %v", res.Values)
		}
		if got := fmt.Sprint(res.Values[0][0]); got != strconv.Itoa(n) {
			return fmt.Errorf("%s rows", got)
		}
		return nil
	})
}

// memberWatch polls a cluster's membership for one node, counting the polls it is missing in
// and any change among the other members.
type memberWatch struct {
	stop, done    chan struct{}
	polls, absent int
	baseline      []string
	other         []string
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
