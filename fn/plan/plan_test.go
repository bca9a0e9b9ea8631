package plan_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/plan"
	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const base = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: db
spec:
`

func spec(body string) string { return base + body }

// c is a consequence as the test tables name it: severity and kind.
type c struct{ severity, kind string }

var cases = []struct {
	name     string
	old, new string
	want     []c
	restarts []string // StatefulSets that roll
	shrink   [][]string
	breaking bool
}{
	{
		name: "unchanged",
		old:  spec("  voters:\n    replicas: 3\n"), new: spec("  voters:\n    replicas: 3\n"),
	},
	{
		name: "scale-up-3-to-5",
		old:  spec("  voters:\n    replicas: 3\n"), new: spec("  voters:\n    replicas: 5\n"),
		want: []c{{plan.Info, plan.KindScaleUp}, {plan.Info, plan.KindQuorum}, {plan.Info, plan.KindShrinkJob}},
	},
	{
		name: "scale-up-3-to-4",
		old:  spec("  voters:\n    replicas: 3\n"), new: spec("  voters:\n    replicas: 4\n"),
		want: []c{{plan.Warning, plan.KindQuorum}, {plan.Info, plan.KindScaleUp}, {plan.Info, plan.KindShrinkJob}},
	},
	{
		name: "shrink-9-to-3",
		old:  spec("  voters:\n    replicas: 9\n"), new: spec("  voters:\n    replicas: 3\n"),
		want:   []c{{plan.Warning, plan.KindShrink}, {plan.Info, plan.KindQuorum}},
		shrink: [][]string{{"rqlite-8", "rqlite-7", "rqlite-6", "rqlite-5"}, {"rqlite-4", "rqlite-3"}},
	},
	{
		name: "shrink-2-to-1",
		old:  spec("  voters:\n    replicas: 2\n"), new: spec("  voters:\n    replicas: 1\n"),
		want:   []c{{plan.Warning, plan.KindShrink}, {plan.Warning, plan.KindQuorum}},
		shrink: [][]string{{"rqlite-1"}},
	},
	{
		name:     "shrink-without-job",
		old:      spec("  voters:\n    replicas: 5\n  shrink:\n    enabled: false\n"),
		new:      spec("  voters:\n    replicas: 1\n  shrink:\n    enabled: false\n"),
		want:     []c{{plan.Breaking, plan.KindShrink}, {plan.Warning, plan.KindQuorum}},
		shrink:   [][]string{{"rqlite-4", "rqlite-3"}, {"rqlite-2"}, {"rqlite-1"}},
		breaking: true,
	},
	{
		name: "readonly-on",
		old:  spec("  voters:\n    replicas: 3\n"), new: spec("  voters:\n    replicas: 3\n  readOnly:\n    replicas: 2\n"),
		want: []c{{plan.Info, plan.KindReadOnlyAdded}},
	},
	{
		name: "readonly-off",
		old:  spec("  voters:\n    replicas: 3\n  readOnly:\n    replicas: 2\n"), new: spec("  voters:\n    replicas: 3\n"),
		want: []c{{plan.Warning, plan.KindReadOnlyRemoved}, {plan.Info, plan.KindPrune}},
	},
	{
		name: "readonly-scale-down",
		old:  spec("  readOnly:\n    replicas: 4\n"), new: spec("  readOnly:\n    replicas: 1\n"),
		want: []c{{plan.Info, plan.KindReadOnlyScale}},
	},
	{
		name: "hpa-on",
		old:  spec("  readOnly:\n    replicas: 2\n"),
		new:  spec("  readOnly:\n    autoscaling:\n      minReplicas: 2\n      maxReplicas: 6\n"),
		want: []c{{plan.Warning, plan.KindAutoscalingOn}},
	},
	{
		name: "hpa-off",
		old:  spec("  readOnly:\n    autoscaling:\n      minReplicas: 2\n      maxReplicas: 6\n"),
		new:  spec("  readOnly:\n    replicas: 3\n"),
		want: []c{{plan.Warning, plan.KindAutoscalingOff}, {plan.Info, plan.KindPrune}},
	},
	{
		name: "image-bump",
		old:  spec("  readOnly:\n    replicas: 2\n"), new: spec("  image: docker.io/rqlite/rqlite:9.2.0\n  readOnly:\n    replicas: 2\n"),
		want:     []c{{plan.Info, plan.KindImage}, {plan.Info, plan.KindRollingRestart}, {plan.Info, plan.KindRollingRestart}, {plan.Info, plan.KindShrinkJob}},
		restarts: []string{"rqlite", "rqlite-readonly"},
	},
	{
		name: "image-downgrade",
		old:  spec("  image: docker.io/rqlite/rqlite:9.2.0\n"), new: spec("  image: docker.io/rqlite/rqlite:8.43.4\n"),
		want:     []c{{plan.Warning, plan.KindImage}, {plan.Info, plan.KindRollingRestart}, {plan.Info, plan.KindShrinkJob}},
		restarts: []string{"rqlite"},
	},
	{
		name: "restart-with-two-voters",
		old:  spec("  voters:\n    replicas: 2\n"), new: spec("  voters:\n    replicas: 2\n    extraArgs: [-fk=true]\n"),
		want:     []c{{plan.Warning, plan.KindRollingRestart}},
		restarts: []string{"rqlite"},
	},
	{
		name: "storage-size",
		old:  spec("  storage:\n    size: 10Gi\n"), new: spec("  storage:\n    size: 20Gi\n"),
		want:     []c{{plan.Breaking, plan.KindStorageSize}},
		breaking: true,
	},
	{
		name: "storage-size-down",
		old:  spec("  storage:\n    size: 20Gi\n"), new: spec("  storage:\n    size: 10Gi\n"),
		want:     []c{{plan.Breaking, plan.KindStorageSize}},
		breaking: true,
	},
	{
		name:     "storage-class",
		old:      spec("  readOnly:\n    replicas: 1\n  storage:\n    storageClassName: standard\n"),
		new:      spec("  readOnly:\n    replicas: 1\n  storage:\n    storageClassName: fast-ssd\n"),
		want:     []c{{plan.Breaking, plan.KindStorageClass}, {plan.Breaking, plan.KindStorageClass}},
		breaking: true,
	},
	{
		name: "recovery-on",
		old:  spec("  voters:\n    replicas: 3\n"), new: spec("  voters:\n    replicas: 3\n  recovery:\n    staticPeers: true\n"),
		// No shrink Job is rendered while recovery is on, so its objects go (and come back after).
		want: []c{{plan.Warning, plan.KindRecoveryOn}, {plan.Info, plan.KindPrune}},
	},
	{
		name: "recovery-off",
		old:  spec("  recovery:\n    staticPeers: true\n"), new: spec(""),
		want: []c{{plan.Info, plan.KindRecoveryOff}},
	},
	{
		name: "name-change",
		old:  spec("  voters:\n    replicas: 3\n"), new: strings.Replace(spec("  voters:\n    replicas: 3\n"), "name: rqlite", "name: ledger", 1),
		want:     []c{{plan.Breaking, plan.KindClusterReplaced}, {plan.Info, plan.KindPrune}},
		breaking: true,
	},
	{
		name: "namespace-change",
		old:  spec(""), new: strings.Replace(spec(""), "namespace: db", "namespace: prod", 1),
		want:     []c{{plan.Breaking, plan.KindClusterReplaced}, {plan.Info, plan.KindPrune}},
		breaking: true,
	},
	{
		name: "new-cluster",
		old:  "", new: spec("  voters:\n    replicas: 3\n"),
		want: []c{{plan.Info, plan.KindClusterCreated}},
	},
	{
		name: "cluster-removed",
		old:  spec("  voters:\n    replicas: 3\n"), new: "",
		want:     []c{{plan.Breaking, plan.KindClusterDeleted}, {plan.Info, plan.KindPrune}},
		breaking: true,
	},
}

func result(t *testing.T, doc string) *generate.Result {
	t.Helper()
	if doc == "" {
		return nil
	}
	res := generate.FromYAML([]byte(doc))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	return &res
}

// TestGoldenPlans runs every spec pair, checks the consequences a reviewer must see and compares the
// whole JSON report with testdata/plan/<case>.json.
func TestGoldenPlans(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := plan.FromResults(result(t, tc.old), result(t, tc.new))
			require.NoError(t, err)

			got := []c{}
			for _, k := range rep.Consequences {
				got = append(got, c{k.Severity, k.Kind})
				assert.NotEmpty(t, k.Message)
			}
			want := tc.want
			if want == nil {
				want = []c{}
			}
			assert.Equal(t, want, got, "consequences (severity, kind), breaking first")
			assert.Equal(t, tc.breaking, rep.Breaking())

			var rolled []string
			for _, r := range rep.Restarts {
				rolled = append(rolled, r.Name)
				for _, f := range r.Fields {
					assert.True(t, strings.HasPrefix(f, "spec.template"), "restart field %s", f)
				}
			}
			assert.Equal(t, tc.restarts, rolled, "rolling restarts")

			if tc.shrink == nil {
				assert.Nil(t, rep.Shrink)
			} else {
				require.NotNil(t, rep.Shrink)
				var batches [][]string
				for _, b := range rep.Shrink.Batches {
					batches = append(batches, b.Remove)
				}
				assert.Equal(t, tc.shrink, batches)
			}

			b, err := rep.JSON()
			require.NoError(t, err)
			golden.Assert(t, filepath.Join("..", "..", "testdata", "plan", tc.name+".json"), b)
		})
	}
}

// A count change never rolls pods: the template is the same, only replicas, the ConfigMap, the
// PDB and the shrink Job (renamed with its target) change.
func TestScalingNeverRestarts(t *testing.T) {
	for _, pair := range [][2]int{{1, 3}, {3, 5}, {5, 3}, {9, 3}, {3, 1}, {7, 8}} {
		old := spec("  voters:\n    replicas: " + strconv.Itoa(pair[0]) + "\n  readOnly:\n    replicas: 1\n")
		nw := spec("  voters:\n    replicas: " + strconv.Itoa(pair[1]) + "\n  readOnly:\n    replicas: 4\n")
		rep, err := plan.FromResults(result(t, old), result(t, nw))
		require.NoError(t, err)
		assert.Empty(t, rep.Restarts, "%v", pair)
		assert.False(t, rep.Breaking(), "%v", pair)
		for _, o := range rep.Objects {
			switch o.Action {
			case plan.Created, plan.Deleted:
				t.Errorf("%v: %s %s %s", pair, o.Action, o.Kind, o.Name)
			case plan.Changed:
				assert.Contains(t, []string{"ConfigMap", "StatefulSet", "PodDisruptionBudget", "Job"}, o.Kind, "%v: %s changed: %v", pair, o.Kind, o.Fields)
			}
		}
	}
}

// The shrink Job keeps one identity across renders although its name changes.
func TestShrinkJobIsOneObject(t *testing.T) {
	rep, err := plan.FromResults(result(t, spec("  voters:\n    replicas: 5\n")), result(t, spec("  voters:\n    replicas: 3\n")))
	require.NoError(t, err)
	var jobs []plan.ObjectChange
	for _, o := range rep.Objects {
		if o.Kind == "Job" {
			jobs = append(jobs, o)
		}
	}
	require.Len(t, jobs, 1)
	assert.Equal(t, plan.Changed, jobs[0].Action)
	assert.True(t, strings.HasPrefix(jobs[0].Name, "rqlite-shrink-to-3-"), jobs[0].Name)
	assert.True(t, strings.HasPrefix(jobs[0].PreviousName, "rqlite-shrink-to-5-"), jobs[0].PreviousName)
	assert.Equal(t, rep.Shrink.Job, jobs[0].Name)
}

func TestDiffPaths(t *testing.T) {
	a := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/version": "1", "x": "y"}},
		"spec": map[string]any{"list": []any{"a", "b"}, "grow": []any{1.0}, "gone": true}}
	b := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/version": "2", "x": "y"}},
		"spec": map[string]any{"list": []any{"a", "c"}, "grow": []any{1.0, 2.0}, "new": 1.0}}
	assert.Equal(t, []string{`metadata.labels["app.kubernetes.io/version"]`, "spec.gone", "spec.grow", "spec.list[1]", "spec.new"}, plan.Diff(a, b))
	assert.Empty(t, plan.Diff(a, a))
}

func TestTextReport(t *testing.T) {
	rep, err := plan.FromResults(result(t, spec("  voters:\n    replicas: 9\n")), result(t, spec("  voters:\n    replicas: 3\n")))
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.WriteText(&b))
	out := b.String()
	for _, want := range []string{
		"0 created, 4 changed, 0 deleted,",
		"~ StatefulSet db/rqlite: ",
		"[warning] shrink: voters 9 → 3",
		"9 → 5: remove rqlite-8, rqlite-7, rqlite-6, rqlite-5",
		"Restarts: none",
		"No breaking change; read the warnings above",
	} {
		assert.Contains(t, out, want)
	}
}
