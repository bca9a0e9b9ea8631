// Package shrink plans and performs the safe removal of rqlite voters when a
// StatefulSet's voter count goes down. This file holds the pure planner: no I/O,
// so every decision about batch sizes can be tested exhaustively.
package shrink

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Step shrinks the voter set from From to To voters by removing the ordinals in
// Remove (highest first, the order in which a StatefulSet deletes pods).
type Step struct {
	From   int
	To     int
	Remove []int

	// RequiresRemovedAlive is set when the voters left behind are not a quorum of
	// the From configuration (only 2→1). Such a step is safe only if every removed
	// voter stays up and reachable until Raft has committed its removal, i.e. the
	// node is removed through the leader first and its pod is stopped afterwards.
	// If the removed voter dies before the change commits, the survivor alone
	// cannot commit anything and the cluster is stuck until the removed voter
	// returns (or peers.json recovery is done).
	RequiresRemovedAlive bool
}

// Quorum is the number of voters a Raft configuration of n voters needs to
// commit anything (majority).
func Quorum(n int) int {
	if n <= 0 {
		return 0
	}
	return n/2 + 1
}

// MaxRemovable is how many voters of an n-voter configuration may disappear at
// once while the rest still form a quorum of that configuration: n − Quorum(n),
// which equals ceil(n/2) − 1.
//
// The batch must be judged against the configuration that is current while the
// batch is in flight, not the one that results: the removed pods may be stopped
// (or crash) before their removal is committed, and until then they still count
// in the denominator.
func MaxRemovable(n int) int {
	if n <= 0 {
		return 0
	}
	return n - Quorum(n)
}

// Plan returns the shortest sequence of steps that brings current voters down
// to target, each step removing the highest remaining ordinals. It returns no
// steps when current == target.
//
// Each step removes k = min(current−target, MaxRemovable(current)) voters, so the
// survivors are a quorum of the configuration in force while the step runs.
// Greedy is minimal: Quorum(n) = n − MaxRemovable(n) is non-decreasing in n, so a
// plan that is ahead (fewer voters) after s steps stays ahead after s+1 steps;
// plan_test.go checks this against a breadth-first search.
//
// MaxRemovable is 0 for n ≤ 2, so greedy alone cannot leave 2 voters. Decision:
//   - 2→1 is planned as one step with RequiresRemovedAlive. Raft can commit a
//     2→1 configuration change while both voters are alive (the change needs
//     both votes, which they give), and afterwards the survivor is a quorum of
//     the new configuration on its own. The executor must remove the voter via
//     the leader (after moving leadership to ordinal 0 so the survivor is never
//     left leaderless by a leader removing itself) and only then stop the pod.
//     Refusing 2→1 would make a single-voter target unreachable from any
//     cluster of two or more voters, which is worse than a step with a stated
//     precondition.
//   - 1→1 is a no-op; a target below 1 is refused because an empty voter set
//     is not a cluster.
func Plan(current, target int) ([]Step, error) {
	if target < 1 {
		return nil, fmt.Errorf("shrink: target voters %d: must be at least 1", target)
	}
	if current < 1 {
		return nil, fmt.Errorf("shrink: current voters %d: must be at least 1", current)
	}
	if target > current {
		return nil, fmt.Errorf("shrink: target voters %d exceeds current %d: growing is not a shrink", target, current)
	}
	var steps []Step
	n := current
	for n > target {
		k := min(n-target, MaxRemovable(n))
		live := false
		if k == 0 {
			// Only n == 2 gets here (n > target ≥ 1 and MaxRemovable(n) = 0 ⇒ n = 2).
			k, live = 1, true
		}
		st := Step{From: n, To: n - k, RequiresRemovedAlive: live}
		for o := n - 1; o >= n-k; o-- {
			st.Remove = append(st.Remove, o)
		}
		steps = append(steps, st)
		n -= k
	}
	return steps, nil
}

// Members sorts Raft node IDs against one StatefulSet.
type Members struct {
	// Current are IDs of pods the StatefulSet keeps at its current replica count
	// (ordinal < replicas).
	Current []string
	// Strays are IDs named like pods of this StatefulSet but with an ordinal at
	// or above replicas, e.g. "rqlite-7" when replicas is 3: left behind by an
	// interrupted shrink (pod gone, Raft entry still there) and safe to remove.
	Strays []string
	// Foreign are IDs that are not pods of this StatefulSet at all, e.g. the
	// read-only pool "rqlite-readonly-0" or a hand-added node. The shrink never
	// touches them.
	Foreign []string
}

// ClassifyMembers splits Raft node IDs into current pods, strays and foreign
// nodes of the StatefulSet named sts running replicas pods. Node IDs are the
// pod hostnames ("<sts>-<ordinal>"), which is what rqlite's container image uses
// by default. An ordinal must be canonical decimal (no sign, no leading zero)
// because that is the only form Kubernetes produces; anything else is foreign,
// so an odd ID can never be mistaken for a stray and removed. Each output list
// is sorted (strays by ordinal, highest first, so they are removed in the same
// order as pods) and duplicates are dropped.
func ClassifyMembers(sts string, replicas int, ids []string) Members {
	var m Members
	type stray struct {
		id  string
		ord int
	}
	var strays []stray
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		ord, ok := PodOrdinal(sts, id)
		switch {
		case !ok:
			m.Foreign = append(m.Foreign, id)
		case ord < replicas:
			m.Current = append(m.Current, id)
		default:
			strays = append(strays, stray{id, ord})
		}
	}
	sort.Slice(strays, func(i, j int) bool { return strays[i].ord > strays[j].ord })
	for _, s := range strays {
		m.Strays = append(m.Strays, s.id)
	}
	sort.Strings(m.Current)
	sort.Strings(m.Foreign)
	return m
}

// PodOrdinal returns the ordinal of id if it names a pod of StatefulSet sts.
func PodOrdinal(sts, id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, sts+"-")
	if !ok || rest == "" || sts == "" {
		return 0, false
	}
	if len(rest) > 1 && rest[0] == '0' {
		return 0, false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ord, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	return ord, true
}
