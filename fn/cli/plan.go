package cli

import (
	"bytes"
	"errors"
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

Renders both RqliteSpecs and reports the objects created, changed and deleted, and what that does to a
running cluster: restarts, voter shrink batches, quorum, immutable fields. An empty file (or a PATH
missing at a revision) means "no cluster".

exit 0: no breaking change; 1: a spec is invalid or cannot be read; 2: usage; 3: a breaking change
`

// runPlan parses flags anywhere among the arguments: CI scripts tend to append --output json last.
func runPlan(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	output, git := "text", false
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, planUsageText)
			return planSafe
		case a == "--git":
			git = true
		case a == "-o" || a == "--output":
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "rqlite-fn plan: %s needs a value\n%s", a, planUsageText)
				return planUsage
			}
			i++
			output = args[i]
		case strings.HasPrefix(a, "--output=") || strings.HasPrefix(a, "-o="):
			output = a[strings.IndexByte(a, '=')+1:]
		case strings.HasPrefix(a, "-") && len(a) > 1:
			fmt.Fprintf(stderr, "rqlite-fn plan: unknown flag %s\n%s", a, planUsageText)
			return planUsage
		default:
			pos = append(pos, a)
		}
	}
	if output != "text" && output != "json" {
		fmt.Fprintf(stderr, "rqlite-fn plan: --output must be text or json, not %q\n", output)
		return planUsage
	}
	type source struct{ label, rev, path string }
	var oldSrc, newSrc source
	switch {
	case git && len(pos) == 3:
		oldSrc = source{pos[0] + ":" + pos[2], pos[0], pos[2]}
		newSrc = source{pos[1] + ":" + pos[2], pos[1], pos[2]}
	case !git && len(pos) == 2:
		oldSrc, newSrc = source{label: pos[0], path: pos[0]}, source{label: pos[1], path: pos[1]}
	default:
		fmt.Fprint(stderr, planUsageText)
		return planUsage
	}

	var results [2]*generate.Result
	failed := false
	for i, src := range []source{oldSrc, newSrc} {
		var doc []byte
		var err error
		if git {
			doc, err = gitShow(src.rev, src.path)
			if errors.Is(err, errBadRevision) {
				fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
				return planUsage
			}
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
	if output == "json" {
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

var errBadRevision = errors.New("not a git revision")

// gitShow reads path as of rev. A path missing at a revision that exists reads as empty, so a pull
// request that adds (or removes) a spec plans a created (or deleted) cluster instead of failing.
func gitShow(rev, path string) ([]byte, error) {
	if out, err := git("rev-parse", "--verify", "--quiet", rev+"^{commit}"); err != nil {
		return nil, fmt.Errorf("%q: %w (%s)", rev, errBadRevision, strings.TrimSpace(string(out)))
	}
	spec := rev + ":./" + filepath.ToSlash(path)
	if filepath.IsAbs(path) {
		top, err := git("rev-parse", "--show-toplevel")
		if err != nil {
			return nil, fmt.Errorf("git rev-parse --show-toplevel: %s", bytes.TrimSpace(top))
		}
		rel, err := relativeTo(strings.TrimSpace(string(top)), path)
		if err != nil {
			return nil, err
		}
		spec = rev + ":" + rel
	}
	if _, err := git("cat-file", "-e", spec); err != nil {
		return nil, nil
	}
	out, err := git("show", spec)
	if err != nil {
		return nil, fmt.Errorf("git show %s: %s", spec, bytes.TrimSpace(out))
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
