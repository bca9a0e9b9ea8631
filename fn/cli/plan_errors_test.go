package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// A path at neither revision is an error naming the path and both revisions (a typo would
// otherwise plan "no cluster → no cluster" and pass); a revision that is not one is named in
// the message; a directory is not a spec file.
func TestPlanGitErrorsNameWhatWasAsked(t *testing.T) {
	top := planGitRepo(t, planStr(planSpec), planStr(strings.Replace(planSpec, "replicas: 3", "replicas: 5", 1)))
	t.Chdir(filepath.Join(top, "deploy"))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"path at neither revision", []string{"HEAD~1", "HEAD", "typo.yaml"}, 1, []string{"typo.yaml exists at neither HEAD~1 nor HEAD"}},
		{"absolute path at neither revision", []string{"HEAD~1", "HEAD", filepath.Join(top, "deploy", "typo.yaml")}, 1, []string{"typo.yaml exists at neither HEAD~1 nor HEAD"}},
		{"bad first revision", []string{"no-such-branch", "HEAD", "rqlite.yaml"}, 2, []string{`"no-such-branch" is not a git revision of the repository at ` + top}},
		{"bad second revision", []string{"HEAD", "HEAD~99", "rqlite.yaml"}, 2, []string{`"HEAD~99" is not a git revision`}},
		{"a directory", []string{"HEAD~1", "HEAD", "."}, 1, []string{". at HEAD~1 is a tree, not a file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errb := run(t, "", append([]string{"plan", "--git"}, tc.args...)...)
			if code != tc.code || out != "" {
				t.Errorf("exit %d, want %d; stdout %q", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errb, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb)
				}
			}
			if strings.Contains(errb, "()") {
				t.Errorf("stderr carries an empty explanation: %s", errb)
			}
		})
	}
	// Outside any repository.
	t.Chdir(t.TempDir())
	code, _, errb := run(t, "", "plan", "--git", "HEAD~1", "HEAD", "rqlite.yaml")
	if code != 2 || !strings.Contains(errb, "--git needs a git repository") {
		t.Errorf("outside a repository: exit %d, stderr %q", code, errb)
	}
}
