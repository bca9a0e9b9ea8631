package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/plan"
)

func init() {
	Commands["plan"] = Command{
		Summary: "show what changing a spec does to a running cluster (OLD NEW, or --git REV1 REV2 PATH); exit 3 if it breaks it",
		Run:     runPlan,
	}
}

// Exit codes of `rqlite-fn plan`, documented in docs/plan.md: CI jobs branch on them.
const (
	planSafe     = 0
	planInvalid  = 1
	planUsage    = 2
	planBreaking = 3
)

const planUsageText = `usage: rqlite-fn plan [--output text|json] OLD NEW
       rqlite-fn plan [--output text|json] --git REV1 REV2 PATH
       rqlite-fn plan [--output text|json] --manifests MANIFEST... SPEC

Renders both RqliteSpecs and reports the objects created, changed and deleted, and what that does to a
running cluster: restarts, voter shrink batches, quorum, immutable fields. An empty file (or a PATH
missing at one of the two revisions) means "no cluster"; a PATH missing at both is an error.
With --manifests, OLD is the manifests of a cluster the function did not render (rqlite's
Kubernetes guide, hand-written, or kubectl get -o yaml), in the spec's namespace unless they name
one: the plan shows what the adopting render changes, the rolling update and what stays.
Flags may come before or after the arguments.

exit 0: no breaking change; 1: a spec is invalid or cannot be read; 2: usage; 3: a breaking change
`

func runPlan(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan")
	output := fs.String("output", "text", "text or json")
	fs.StringVar(output, "o", "text", "short for --output")
	git := fs.Bool("git", false, "read PATH as of two git revisions")
	manifests := fs.Bool("manifests", false, "OLD is one or more manifest files of a running cluster not rendered by the function (rqlite's Kubernetes guide), NEW the spec that adopts it")
	pos, code, ok := parseArgs(fs, planUsageText, args, anyFiles, stdout, stderr)
	if !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		return usageError(stderr, fs, planUsageText, fmt.Sprintf("--output must be text or json, not %q", *output))
	}
	if *manifests {
		if *git || len(pos) < 2 {
			return usageError(stderr, fs, planUsageText, "--manifests takes MANIFEST... SPEC (and no --git)")
		}
		return planManifests(pos[:len(pos)-1], pos[len(pos)-1], *output, stdout, stderr)
	}
	type source struct{ label, rev, path string }
	var oldSrc, newSrc source
	switch {
	case *git && len(pos) == 3:
		oldSrc = source{pos[0] + ":" + pos[2], pos[0], pos[2]}
		newSrc = source{pos[1] + ":" + pos[2], pos[1], pos[2]}
	case !*git && len(pos) == 2:
		oldSrc, newSrc = source{label: pos[0], path: pos[0]}, source{label: pos[1], path: pos[1]}
	case *git:
		return usageError(stderr, fs, planUsageText, fmt.Sprintf("--git takes REV1 REV2 PATH, got %d argument(s)", len(pos)))
	default:
		return usageError(stderr, fs, planUsageText, fmt.Sprintf("plan takes OLD NEW, got %d argument(s)", len(pos)))
	}
	if *git {
		if code, ok := checkGitSources(oldSrc.rev, newSrc.rev, oldSrc.path, stderr); !ok {
			return code
		}
	}

	var results [2]*generate.Result
	failed := false
	for i, src := range []source{oldSrc, newSrc} {
		var doc []byte
		var err error
		if *git {
			doc, err = gitShow(src.rev, src.path)
		} else {
			doc, err = os.ReadFile(src.path)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			failed = true
			continue
		}
		docs := splitDocuments(doc)
		switch len(docs) {
		case 0:
			continue // no cluster on this side
		case 1:
		default:
			fmt.Fprintf(stderr, "rqlite-fn plan: %s holds %d documents; plan compares one RqliteSpec with one\n", src.label, len(docs))
			failed = true
			continue
		}
		res := generate.FromYAML(docs[0])
		for _, p := range res.Problems {
			sev := "error"
			if p.Warning {
				sev = "warning"
			}
			fmt.Fprintf(stderr, "%s: [%s] %s\n", src.label, sev, p)
		}
		if res.Problems.HasErrors() {
			failed = true
			continue
		}
		results[i] = &res
	}
	if failed {
		return planInvalid
	}
	rep, err := plan.FromResults(results[0], results[1])
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
		return planInvalid
	}
	if *output == "json" {
		b, err := rep.JSON()
		if err == nil {
			_, err = stdout.Write(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid
		}
	} else {
		fmt.Fprintf(stdout, "Plan %s → %s\n", oldSrc.label, newSrc.label)
		if err := rep.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid
		}
	}
	if rep.Breaking() {
		return planBreaking
	}
	return planSafe
}

// checkGitSources refuses what cannot be planned, naming what was asked: a revision that is not
// one (usage, exit 2), or a path at neither revision (exit 1: a typo would otherwise plan "no
// cluster → no cluster" and pass).
func checkGitSources(rev1, rev2, path string, stderr io.Writer) (int, bool) {
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn plan: --git needs a git repository: %s\n", bytes.TrimSpace(top))
		return planUsage, false
	}
	for _, rev := range []string{rev1, rev2} {
		if _, err := git("rev-parse", "--verify", "--quiet", rev+"^{commit}"); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %q is not a git revision of the repository at %s (write a commit, branch or tag, e.g. HEAD~1 or origin/main)\n",
				rev, strings.TrimSpace(string(top)))
			return planUsage, false
		}
	}
	found := false
	for _, rev := range []string{rev1, rev2} {
		obj, err := gitObject(rev, path)
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid, false
		}
		if _, err := git("cat-file", "-e", obj); err == nil {
			found = true
		}
	}
	if !found {
		fmt.Fprintf(stderr, "rqlite-fn plan: %s exists at neither %s nor %s (a path is relative to the current directory; check its spelling)\n", path, rev1, rev2)
		return planInvalid, false
	}
	return 0, true
}

// gitObject is git's name of path as of rev: relative to the working directory, or to the
// repository's top level for an absolute path.
func gitObject(rev, path string) (string, error) {
	if !filepath.IsAbs(path) {
		return rev + ":./" + filepath.ToSlash(path), nil
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("git rev-parse --show-toplevel: %s", bytes.TrimSpace(top))
	}
	rel, err := relativeTo(strings.TrimSpace(string(top)), path)
	if err != nil {
		return "", err
	}
	return rev + ":" + rel, nil
}

// gitShow reads path as of rev. A path missing at one revision reads as empty, so a pull request
// that adds (or removes) a spec plans a created (or deleted) cluster; checkGitSources has made
// sure it exists at one of them.
func gitShow(rev, path string) ([]byte, error) {
	obj, err := gitObject(rev, path)
	if err != nil {
		return nil, err
	}
	kind, err := git("cat-file", "-t", obj)
	if err != nil {
		return nil, nil
	}
	if k := strings.TrimSpace(string(kind)); k != "blob" {
		return nil, fmt.Errorf("%s at %s is a %s, not a file", path, rev, k)
	}
	out, err := git("show", obj)
	if err != nil {
		return nil, fmt.Errorf("git show %s: %s", obj, bytes.TrimSpace(out))
	}
	return out, nil
}

// relativeTo makes an absolute path relative to the repository's top level, resolving symlinks on
// both sides (a temporary directory is often reached through one).
func relativeTo(top, path string) (string, error) {
	if t, err := filepath.EvalSymlinks(top); err == nil {
		top = t
	}
	dir, file := filepath.Split(path)
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		path = filepath.Join(d, file)
	}
	rel, err := filepath.Rel(top, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is outside the git repository at %s", path, top)
	}
	return filepath.ToSlash(rel), nil
}

// git runs git in the working directory; stdout on success, stderr on failure.
func git(args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return errb.Bytes(), err
	}
	return out.Bytes(), nil
}
