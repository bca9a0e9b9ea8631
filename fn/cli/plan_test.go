package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/plan"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const planSpec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: rqlite
  namespace: db
spec:
  voters:
    replicas: 3
`

func planWriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestPlanExitCodes(t *testing.T) {
	dir := t.TempDir()
	three := planWriteFile(t, dir, "three.yaml", planSpec)
	five := planWriteFile(t, dir, "five.yaml", strings.Replace(planSpec, "replicas: 3", "replicas: 5", 1))
	bigger := planWriteFile(t, dir, "bigger.yaml", planSpec+"  storage:\n    size: 50Gi\n")
	invalid := planWriteFile(t, dir, "invalid.yaml", strings.Replace(planSpec, "replicas: 3", "replicas: 0", 1))
	typo := planWriteFile(t, dir, "typo.yaml", strings.Replace(planSpec, "voters:", "voter:", 1))
	empty := planWriteFile(t, dir, "empty.yaml", "# no cluster yet\n")
	two := planWriteFile(t, dir, "two.yaml", planSpec+"---\n"+planSpec)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"scale up is safe", []string{"plan", three, five}, 0, "[info] scale-up: voters 3 → 5", ""},
		{"no change", []string{"plan", three, three}, 0, "0 created, 0 changed, 0 deleted,", ""},
		{"storage size is breaking", []string{"plan", three, bigger}, 3, "[breaking] storage-size", ""},
		{"flags after the files", []string{"plan", three, bigger, "--output", "json"}, 3, `"kind": "storage-size"`, ""},
		{"invalid new spec", []string{"plan", three, invalid}, 1, "", "[error] spec.voters.replicas: 0 voters cannot form a cluster"},
		{"unknown field", []string{"plan", typo, three}, 1, "", `[error] spec.voter: unknown field (did you mean "voters"?)`},
		{"missing file", []string{"plan", three, filepath.Join(dir, "nope.yaml")}, 1, "", "no such file"},
		{"two documents", []string{"plan", two, three}, 1, "", "holds 2 documents"},
		{"empty old is a new cluster", []string{"plan", empty, three}, 0, "[info] cluster-created", ""},
		{"empty new deletes the cluster", []string{"plan", three, empty}, 3, "[breaking] cluster-deleted", ""},
		{"one file", []string{"plan", three}, 2, "", "usage: rqlite-fn plan"},
		{"bad output", []string{"plan", "-o", "yaml", three, five}, 2, "", "--output must be text or json"},
		{"unknown flag", []string{"plan", "--diff", three, five}, 2, "", `unknown flag "--diff"`},
		{"git needs three arguments", []string{"plan", "--git", "HEAD", three}, 2, "", "usage: rqlite-fn plan"},
		{"help", []string{"plan", "--help"}, 0, "exit 0: no breaking change", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errb := run(t, "", tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errb)
			assert.Contains(t, out, tc.stdout)
			assert.Contains(t, errb, tc.stderr)
		})
	}
}

func TestPlanJSON(t *testing.T) {
	dir := t.TempDir()
	nine := planWriteFile(t, dir, "nine.yaml", strings.Replace(planSpec, "replicas: 3", "replicas: 9", 1))
	three := planWriteFile(t, dir, "three.yaml", planSpec)
	code, out, errb := run(t, "", "plan", "--output=json", nine, three)
	require.Equal(t, 0, code, errb)
	var rep plan.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&rep), "the output is exactly the documented schema")
	require.NotNil(t, rep.Shrink)
	assert.Equal(t, 9, rep.Shrink.From)
	assert.Equal(t, 3, rep.Shrink.To)
	assert.Len(t, rep.Shrink.Batches, 2)
	assert.Empty(t, rep.Restarts)

	// The key set is the contract CI scripts rely on.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &raw))
	assert.ElementsMatch(t, []string{"objects", "consequences", "restarts", "shrink"}, planKeys(raw))
	obj := raw["objects"].([]any)[0].(map[string]any)
	assert.ElementsMatch(t, []string{"apiVersion", "kind", "name", "namespace", "action", "fields"}, planKeys(obj))
	cons := raw["consequences"].([]any)[0].(map[string]any)
	assert.ElementsMatch(t, []string{"severity", "kind", "message", "details"}, planKeys(cons))
}

func planKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// gitRepo creates a repository whose history holds the given versions of one spec file, one commit
// each, in a directory below the top level (so relative paths are resolved against the working
// directory, as `git show REV:./PATH` does). A nil version deletes the file in that commit.
func planGitRepo(t *testing.T, versions ...*string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for the --git mode tests")
	}
	top := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, "gitconfig"))
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = top
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git("init", "-q", "-b", "main")
	planWriteFile(t, top, "deploy/README", "specs\n")
	git("add", "deploy/README")
	git("commit", "-q", "-m", "start")
	for i, v := range versions {
		p := filepath.Join(top, "deploy", "rqlite.yaml")
		if v == nil {
			git("rm", "-q", p)
		} else {
			planWriteFile(t, top, "deploy/rqlite.yaml", *v)
			git("add", p)
		}
		git("commit", "-q", "--allow-empty", "-m", "v"+string(rune('1'+i)))
	}
	return top
}

func planStr(s string) *string { return &s }

func TestPlanGit(t *testing.T) {
	bigger := planSpec + "  storage:\n    size: 50Gi\n"
	top := planGitRepo(t, planStr(planSpec), planStr(strings.Replace(planSpec, "replicas: 3", "replicas: 5", 1)), planStr(bigger), nil)
	t.Chdir(filepath.Join(top, "deploy"))
	// History: HEAD~4 no file, HEAD~3 three voters, HEAD~2 five, HEAD~1 bigger volumes, HEAD deleted.
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"scale up", []string{"HEAD~3", "HEAD~2", "rqlite.yaml"}, 0, "[info] scale-up: voters 3 → 5"},
		{"breaking", []string{"HEAD~2", "HEAD~1", "rqlite.yaml"}, 3, "[breaking] storage-size"},
		{"file added", []string{"HEAD~4", "HEAD~3", "rqlite.yaml"}, 0, "[info] cluster-created"},
		{"file removed", []string{"HEAD~1", "HEAD", "rqlite.yaml"}, 3, "[breaking] cluster-deleted"},
		{"absolute path", []string{"HEAD~3", "HEAD~2", filepath.Join(top, "deploy", "rqlite.yaml")}, 0, "[info] scale-up"},
		{"branch names", []string{"main~3", "main~2", "./rqlite.yaml"}, 0, "[info] scale-up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errb := run(t, "", append([]string{"plan", "--git"}, tc.args...)...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errb)
			assert.Contains(t, out, tc.want)
		})
	}

	code, _, errb := run(t, "", "plan", "--git", "no-such-branch", "HEAD", "rqlite.yaml")
	assert.Equal(t, 2, code)
	assert.Contains(t, errb, `"no-such-branch" is not a git revision`)

	// An invalid spec at one revision fails the plan with its problems, labelled by revision.
	planWriteFile(t, filepath.Join(top, "deploy"), "rqlite.yaml", strings.Replace(planSpec, "replicas: 3", "replicas: 200", 1))
	cmd := exec.Command("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-am", "too many")
	cmd.Dir = top
	require.NoError(t, exec.Command("git", "-C", top, "add", "-A").Run())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	code, _, errb = run(t, "", "plan", "--git", "HEAD~2", "HEAD", "rqlite.yaml")
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "HEAD:rqlite.yaml: [error] spec.voters.replicas: 200 voters")
}
