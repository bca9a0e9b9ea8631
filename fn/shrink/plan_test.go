package shrink

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanQuorumTable(t *testing.T) {
	cases := []struct{ n, quorum, removable int }{
		{0, 0, 0}, {1, 1, 0}, {2, 2, 0}, {3, 2, 1}, {4, 3, 1}, {5, 3, 2},
		{6, 4, 2}, {7, 4, 3}, {8, 5, 3}, {9, 5, 4}, {15, 8, 7},
	}
	for _, c := range cases {
		assert.Equal(t, c.quorum, Quorum(c.n), "Quorum(%d)", c.n)
		assert.Equal(t, c.removable, MaxRemovable(c.n), "MaxRemovable(%d)", c.n)
		if c.n > 0 {
			// The definition in the brief: ceil(n/2) − 1.
			assert.Equal(t, (c.n+1)/2-1, MaxRemovable(c.n), "ceil(%d/2)-1", c.n)
		}
	}
}

func TestPlanExamples(t *testing.T) {
	cases := []struct {
		from, to int
		want     []Step
	}{
		{1, 1, nil},
		{3, 3, nil},
		{2, 1, []Step{{From: 2, To: 1, Remove: []int{1}, RequiresRemovedAlive: true}}},
		{3, 1, []Step{
			{From: 3, To: 2, Remove: []int{2}},
			{From: 2, To: 1, Remove: []int{1}, RequiresRemovedAlive: true},
		}},
		{5, 3, []Step{{From: 5, To: 3, Remove: []int{4, 3}}}},
		{9, 3, []Step{
			{From: 9, To: 5, Remove: []int{8, 7, 6, 5}},
			{From: 5, To: 3, Remove: []int{4, 3}},
		}},
		{9, 1, []Step{
			{From: 9, To: 5, Remove: []int{8, 7, 6, 5}},
			{From: 5, To: 3, Remove: []int{4, 3}},
			{From: 3, To: 2, Remove: []int{2}},
			{From: 2, To: 1, Remove: []int{1}, RequiresRemovedAlive: true},
		}},
		{4, 3, []Step{{From: 4, To: 3, Remove: []int{3}}}},
		{15, 14, []Step{{From: 15, To: 14, Remove: []int{14}}}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d->%d", c.from, c.to), func(t *testing.T) {
			got, err := Plan(c.from, c.to)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestPlanRejects(t *testing.T) {
	for _, c := range []struct{ from, to int }{{3, 0}, {3, -1}, {0, 0}, {0, 1}, {3, 4}, {1, 2}} {
		_, err := Plan(c.from, c.to)
		assert.Error(t, err, "Plan(%d, %d)", c.from, c.to)
	}
}

// minSteps is a brute-force search over every batch size allowed from every
// voter count: k in 1..MaxRemovable(n), plus the single 2→1 live removal.
// It knows nothing about greedy, so agreeing with it proves Plan minimal.
func minSteps(from, to int) int {
	const inf = 1 << 30
	best := make([]int, from+1)
	for n := range best {
		best[n] = inf
	}
	best[to] = 0
	for n := to + 1; n <= from; n++ {
		ks := []int{}
		for k := 1; k <= MaxRemovable(n); k++ {
			ks = append(ks, k)
		}
		if n == 2 {
			ks = append(ks, 1)
		}
		for _, k := range ks {
			if n-k >= to && best[n-k]+1 < best[n] {
				best[n] = best[n-k] + 1
			}
		}
	}
	return best[from]
}

func TestPlanExhaustive(t *testing.T) {
	for n := 1; n <= 15; n++ {
		for target := 1; target <= n; target++ {
			steps, err := Plan(n, target)
			require.NoError(t, err, "Plan(%d, %d)", n, target)

			again, err := Plan(n, target)
			require.NoError(t, err)
			require.Equal(t, steps, again, "Plan(%d, %d) not deterministic", n, target)

			require.Equal(t, minSteps(n, target), len(steps), "Plan(%d, %d) not minimal: %+v", n, target, steps)

			cur := n
			for i, st := range steps {
				where := fmt.Sprintf("Plan(%d, %d) step %d %+v", n, target, i, st)
				require.Equal(t, cur, st.From, where)
				require.Equal(t, st.From-len(st.Remove), st.To, where)
				require.Less(t, st.To, st.From, where)
				require.GreaterOrEqual(t, st.To, target, where)
				require.GreaterOrEqual(t, st.To, 1, where)
				if st.RequiresRemovedAlive {
					require.Equal(t, 2, st.From, where)
					require.Equal(t, 1, st.To, where)
				} else {
					// Survivors alone must be a quorum of the configuration in force.
					require.GreaterOrEqual(t, st.To, Quorum(st.From), where)
				}
				// Highest ordinals first, contiguous: exactly the pods a StatefulSet
				// scale-down from From to To deletes.
				for j, o := range st.Remove {
					require.Equal(t, st.From-1-j, o, where)
				}
				cur = st.To
			}
			require.Equal(t, target, cur, "Plan(%d, %d) ends at %d", n, target, cur)
		}
	}
}

func TestPlanClassifyMembers(t *testing.T) {
	ids := []string{
		"rqlite-0", "rqlite-2", "rqlite-1", "rqlite-7", "rqlite-3", "rqlite-10",
		"rqlite-readonly-0", "rqlite-readonly-3", "other-0", "rqlite-", "rqlite-01",
		"rqlite--1", "rqlite-1x", "127.0.0.1:4002", "rqlite", "rqlite-7",
	}
	m := ClassifyMembers("rqlite", 3, ids)
	assert.Equal(t, []string{"rqlite-0", "rqlite-1", "rqlite-2"}, m.Current)
	assert.Equal(t, []string{"rqlite-10", "rqlite-7", "rqlite-3"}, m.Strays)
	assert.Equal(t, []string{"127.0.0.1:4002", "other-0", "rqlite", "rqlite-", "rqlite--1",
		"rqlite-01", "rqlite-1x", "rqlite-readonly-0", "rqlite-readonly-3"}, m.Foreign)

	// The read-only StatefulSet sees the voters as foreign and vice versa.
	ro := ClassifyMembers("rqlite-readonly", 1, ids)
	assert.Equal(t, []string{"rqlite-readonly-0"}, ro.Current)
	assert.Equal(t, []string{"rqlite-readonly-3"}, ro.Strays)
	assert.Contains(t, ro.Foreign, "rqlite-0")

	empty := ClassifyMembers("rqlite", 0, []string{"rqlite-0"})
	assert.Nil(t, empty.Current)
	assert.Equal(t, []string{"rqlite-0"}, empty.Strays)

	noName := ClassifyMembers("", 3, []string{"-0", "rqlite-0"})
	assert.Nil(t, noName.Current)
	assert.Nil(t, noName.Strays)
}
