//go:build bench

package bench

import (
	"io"
	"testing"
)

// Allocation budgets. Allocation counts do not depend on the machine or its load, so unlike
// timings they can be asserted; bench/run.sh runs this (build tag bench) before the benchmarks.
// The budgets sit about 20% above what the code needed when they were set (the measured counts are
// in docs/benchmarks.md): a change that crosses one has made every render slower and should say
// why, or raise the budget in the same commit.
const (
	budgetSpec3        = 3700 // BenchmarkSpec/voters=3 (3,081 when set)
	budgetEveryOption  = 8500 // BenchmarkSpec/every-option (7,110)
	budgetKustomizeRun = 4500 // one kustomize generator call through cli.Main (3,743)
	// Each voter beyond three adds one peers.json entry and nothing else, so the 96 extra voters
	// of voters=99 get a small budget of their own (485 when set).
	budgetExtraVoters = 600
)

func TestAllocationBudget(t *testing.T) {
	specs := map[string][]byte{}
	for _, c := range specCases(t) {
		specs[c.name] = c.doc
	}
	render := func(doc []byte) func() {
		return func() {
			if _, err := renderSpec(doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	three := testing.AllocsPerRun(20, render(specs["voters=3"]))
	ninetyNine := testing.AllocsPerRun(20, render(specs["voters=99"]))
	every := testing.AllocsPerRun(20, render(specs["every-option"]))
	in := kustomizeResourceList(t)
	krmRun := testing.AllocsPerRun(20, func() {
		if err := runKRM(in, io.Discard); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct {
		name        string
		got, budget float64
	}{
		{"render voters=3", three, budgetSpec3},
		{"render every-option", every, budgetEveryOption},
		{"KRM kustomize generator call", krmRun, budgetKustomizeRun},
		{"voters=99 over voters=3", ninetyNine - three, budgetExtraVoters},
	} {
		t.Logf("%-30s %8.0f allocs (budget %.0f)", c.name, c.got, c.budget)
		if c.got > c.budget {
			t.Errorf("%s: %.0f allocations, budget %.0f", c.name, c.got, c.budget)
		}
	}
}
