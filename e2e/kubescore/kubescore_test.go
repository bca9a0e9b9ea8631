// Package kubescore gates every golden render on kube-score v1.20.0: no finding below OK except
// those accepted, with a reason each, in the repository's .kube-score.yaml. A negative control,
// the Helm chart's reference render, must fail the same gate. A missing kube-score fails the test
// (never skips it): `make tools`.
package kubescore

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/helmchart"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// `make golden` runs `go test ./e2e/... -run Golden -update`; every test binary it reaches must
// accept the flag. Nothing here is a golden file.
var _ = flag.Bool("update", false, "accepted for `make golden`; this package has no golden files")

// policy is .kube-score.yaml.
type policy struct {
	KubernetesVersion string `json:"kubernetesVersion"`
	Flags             []struct {
		Flag   string `json:"flag"`
		Reason string `json:"reason"`
	} `json:"flags"`
	Enable []struct {
		Check  string `json:"check"`
		Reason string `json:"reason"`
	} `json:"enable"`
	Ignore []ignoreEntry `json:"ignore"`
}

type ignoreEntry struct {
	Check  string `json:"check"`
	File   string `json:"file,omitempty"`
	Object string `json:"object,omitempty"`
	Reason string `json:"reason"`
}

func (e ignoreEntry) String() string {
	s := e.Check
	if e.File != "" {
		s += " in " + e.File
	}
	if e.Object != "" {
		s += " on " + e.Object
	}
	return s
}

func (e ignoreEntry) matches(f finding) bool {
	return e.Check == f.Check && (e.File == "" || e.File == f.File) && (e.Object == "" || e.Object == f.Object)
}

// The part of kube-score's JSON output (format v2) the gate reads.
type scoredObject struct {
	TypeMeta struct {
		Kind string `json:"kind"`
	} `json:"type_meta"`
	ObjectMeta struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"object_meta"`
	FileName string `json:"file_name"`
	Checks   []struct {
		Check struct {
			ID string `json:"id"`
		} `json:"check"`
		Grade    int  `json:"grade"`
		Skipped  bool `json:"skipped"`
		Comments []struct {
			Path    string `json:"path"`
			Summary string `json:"summary"`
		} `json:"comments"`
	} `json:"checks"`
}

// kube-score's grades (scorecard.Grade).
const gradeOK = 10

func gradeName(g int) string {
	switch {
	case g <= 1:
		return "CRITICAL"
	case g <= 5:
		return "WARNING"
	case g < gradeOK:
		return "ALMOST-OK"
	}
	return "OK"
}

// finding is one check below OK on one object.
type finding struct {
	File, Object, Check, Grade, Detail string
}

func (f finding) String() string {
	return fmt.Sprintf("[%s] %s: %s %s: %s", f.Grade, f.File, f.Check, f.Object, f.Detail)
}

func loadPolicy(t *testing.T, root string) policy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".kube-score.yaml"))
	require.NoError(t, err)
	var p policy
	require.NoError(t, yaml.UnmarshalStrict(b, &p), ".kube-score.yaml")
	require.NotEmpty(t, p.KubernetesVersion)
	for _, f := range p.Flags {
		require.True(t, strings.HasPrefix(f.Flag, "--ignore-"), "flags may only switch checks off: %s", f.Flag)
		require.NotEmpty(t, strings.TrimSpace(f.Reason), "flag %s needs a reason", f.Flag)
	}
	for _, e := range p.Enable {
		require.NotEmpty(t, strings.TrimSpace(e.Reason), "enabled check %s needs a reason", e.Check)
	}
	for _, e := range p.Ignore {
		require.NotEmpty(t, e.Check, "entry without a check id")
		require.NotEmpty(t, strings.TrimSpace(e.Reason), "ignore entry %s needs a reason", e)
	}
	return p
}

func (p policy) args() []string {
	args := []string{"score", "-o", "json", "--kubernetes-version", p.KubernetesVersion}
	for _, f := range p.Flags {
		args = append(args, f.Flag)
	}
	for _, e := range p.Enable {
		args = append(args, "--enable-optional-test", e.Check)
	}
	return args
}

// score runs kube-score on files and returns every finding below OK. kube-score exits 1 when it
// finds something, so its status is judged by whether the output parses.
func score(t *testing.T, bin, root string, p policy, files []string) []finding {
	t.Helper()
	cmd := exec.Command(bin, append(p.args(), files...)...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running kube-score: %v", err)
	}
	var objs []scoredObject
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &objs), "kube-score output (exit %v, stderr %s)", err, stderr.String())
	require.NotEmpty(t, objs, "kube-score scored nothing (stderr %s)", stderr.String())
	var out []finding
	for _, o := range objs {
		id := o.TypeMeta.Kind + " " + o.ObjectMeta.Name
		if o.ObjectMeta.Namespace != "" {
			id = o.TypeMeta.Kind + " " + o.ObjectMeta.Namespace + "/" + o.ObjectMeta.Name
		}
		file := o.FileName
		if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		for _, c := range o.Checks {
			if c.Skipped || c.Grade >= gradeOK {
				continue
			}
			var details []string
			for _, cm := range c.Comments {
				d := cm.Summary
				if cm.Path != "" {
					d = "(" + cm.Path + ") " + d
				}
				details = append(details, d)
			}
			out = append(out, finding{File: file, Object: id, Check: c.Check.ID, Grade: gradeName(c.Grade), Detail: strings.Join(details, "; ")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func renders(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"testdata/golden/*.yaml", "testdata/overlays/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, g))
		require.NoError(t, err)
		require.NotEmpty(t, m, g)
		files = append(files, m...)
	}
	kpt := filepath.Join(root, "examples/kpt/rqlite.generated.yaml")
	require.FileExists(t, kpt)
	return append(files, kpt)
}

func TestKubeScoreGate(t *testing.T) {
	root := testenv.RepoRoot(t)
	bin := testenv.Tool(t, "kube-score")
	p := loadPolicy(t, root)
	files := renders(t, root)

	findings := score(t, bin, root, p, files)
	used := make([]int, len(p.Ignore))
	var rejected []string
	for _, f := range findings {
		accepted := false
		for i, e := range p.Ignore {
			if e.matches(f) {
				used[i]++
				accepted = true
			}
		}
		if !accepted {
			rejected = append(rejected, f.String())
		}
	}
	t.Logf("kube-score %s over %d renders: %d findings, all accepted by .kube-score.yaml: %v",
		strings.Join(p.args(), " "), len(files), len(findings), len(rejected) == 0)
	assert.Empty(t, rejected, "kube-score findings not accepted by .kube-score.yaml: fix the renderer, or add an entry with a reason")
	for i, e := range p.Ignore {
		assert.NotZero(t, used[i], ".kube-score.yaml entry %q matches no finding any more: remove it", e)
	}
}

// TestKubeScoreGateCanFail scores the Helm chart's render (3 voters + 3 read-only, built from
// internal/helmchart's facts) under the same settings: it lacks memory and ephemeral-storage
// limits and container security contexts, so the gate must report CRITICAL findings for it that
// no entry accepts.
func TestKubeScoreGateCanFail(t *testing.T) {
	root := testenv.RepoRoot(t)
	bin := testenv.Tool(t, "kube-score")
	p := loadPolicy(t, root)
	stream, err := helmchart.Lookup("three-voters-readonly").YAML()
	require.NoError(t, err)
	helmReference := filepath.Join(t.TempDir(), "helm-chart.yaml")
	require.NoError(t, os.WriteFile(helmReference, stream, 0o644))

	var critical []string
	for _, f := range score(t, bin, root, p, []string{helmReference}) {
		accepted := false
		for _, e := range p.Ignore {
			accepted = accepted || e.matches(f)
		}
		if !accepted && f.Grade == "CRITICAL" {
			critical = append(critical, f.String())
		}
	}
	t.Logf("Helm reference render, CRITICAL after the ignore list:\n%s", strings.Join(critical, "\n"))
	assert.NotEmpty(t, critical)
}
