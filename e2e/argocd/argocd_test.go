package argocd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/verify"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"sigs.k8s.io/yaml"
)

// The exact command the plugin runs; a variant below removes --enable-exec from it, and fails if
// it is gone.
const buildWithExec = "kustomize build --enable-alpha-plugins --enable-exec ."

func pluginYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath("examples", "argocd", "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realSidecar serves examples/argocd/plugin.yaml as shipped.
func realSidecar(t *testing.T) sidecar {
	t.Helper()
	return sidecarFor(t, "shipped", pluginYAML(t))
}

// overlay is an application directory the plugin is meant for.
type overlay struct {
	dir string // relative to the repository root
	app string // the Application's name in the requests
}

// overlays lists base/ and every overlays/* that has a kustomization, so a new overlay is
// covered without editing this test.
func overlays(t *testing.T) []overlay {
	t.Helper()
	out := []overlay{{dir: "base", app: "rqlite-base"}}
	dirs, err := filepath.Glob(repoPath("overlays", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range dirs {
		name := filepath.Base(filepath.Dir(k))
		out = append(out, overlay{dir: "overlays/" + name, app: "rqlite-" + name})
	}
	if len(out) < 2 {
		t.Fatalf("found no overlays under %s", repoPath("overlays"))
	}
	return out
}

// checkout is the repository as the repo-server has it after a clone: a copy, which it streams
// to the sidecar whole (the repo-server sends the repository root, not just the application's
// path, because kustomizations reach outside their directory).
func checkout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"base", "overlays", filepath.Join("e2e", "argocd", "testdata")} {
		copyTree(t, repoPath(d), filepath.Join(dir, d))
	}
	return dir
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostBuild is what the plugin promises to reproduce: `kustomize build --enable-alpha-plugins
// --enable-exec` of the same checkout on the host, with the same rqlite-fn, as objects.
func hostBuild(t *testing.T, repo, dir string) []map[string]any {
	t.Helper()
	kustomize := testenv.Tool(t, "kustomize")
	cmd := exec.Command(kustomize, "build", "--enable-alpha-plugins", "--enable-exec", filepath.Join(repo, dir))
	cmd.Env = []string{
		"PATH=" + strings.Join([]string{filepath.Dir(fnBin), filepath.Dir(kustomize), "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"HOME=" + t.TempDir(),
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("host kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := verify.Decode(stdout.Bytes())
	if err != nil {
		t.Fatalf("host kustomize build %s: %v", dir, err)
	}
	return jsonObjects(t, objs)
}

// jsonObjects puts objects into the shape JSON gives them (numbers float64, maps
// map[string]any), which is how the repo-server's objects reach this test.
func jsonObjects(t *testing.T, objs []map[string]any) []map[string]any {
	t.Helper()
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func objectID(o map[string]any) string {
	meta, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v/%v", o["kind"], meta["namespace"], meta["name"])
}

// sameObjects compares two ordered object lists and describes the first difference.
func sameObjects(want, got []map[string]any) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("object %d (%s) missing; got %d objects, want %d", i, objectID(want[i]), len(got), len(want))
		case i >= len(want):
			return fmt.Sprintf("extra object %d (%s); got %d objects, want %d", i, objectID(got[i]), len(got), len(want))
		case !reflect.DeepEqual(want[i], got[i]):
			w, _ := json.MarshalIndent(want[i], "", "  ")
			g, _ := json.MarshalIndent(got[i], "", "  ")
			return fmt.Sprintf("object %d: want %s, got %s: %s", i, objectID(want[i]), objectID(got[i]), firstDifference(string(w), string(g)))
		}
	}
	return ""
}

func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("first difference at line %d:\n  want: %q\n  got:  %q", i+1, w, g)
		}
	}
	return ""
}

// TestSidecarImage checks what the image built from examples/argocd/Dockerfile publishes:
// Argo CD's user, no entrypoint of its own (Argo CD's argocd-cmp-server is the command), the
// PATH the plugin's commands are looked up on, and the OCI labels.
func TestSidecarImage(t *testing.T) {
	image := buildSidecarImage(t)
	var cfg struct {
		User       string
		Entrypoint []string
		Cmd        []string
		Env        []string
		Labels     map[string]string
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "999:999" {
		t.Errorf("user %q, want 999:999 (Argo CD runs plugin sidecars as 999)", cfg.User)
	}
	if len(cfg.Entrypoint) != 0 || len(cfg.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q: the image must not bring its own (Argo CD runs %s)", cfg.Entrypoint, cfg.Cmd, cmpServerPath)
	}
	env := strings.Join(cfg.Env, "\n")
	for _, want := range []string{"PATH=/usr/local/bin:/bin", "HOME=/tmp"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, cfg.Env)
		}
	}
	if cfg.Labels["org.opencontainers.image.source"] != "https://github.com/rqlite/rqlite-krm" || cfg.Labels["org.opencontainers.image.version"] == "" {
		t.Errorf("labels %v", cfg.Labels)
	}
	t.Logf("image %s: %s bytes", image, strings.TrimSpace(docker(t, "image", "inspect", "--format", "{{.Size}}", image)))
}

// TestEveryOverlayRendersThroughTheSidecar: each application directory of the repository, asked
// for both ways an Application can use the plugin — naming it (spec.source.plugin.name, as
// examples/argocd/application.yaml does) and leaving it to discovery — gives exactly the
// objects, in order, that kustomize builds on the host.
func TestEveryOverlayRendersThroughTheSidecar(t *testing.T) {
	s := realSidecar(t)
	repo := checkout(t)
	for _, o := range overlays(t) {
		want := hostBuild(t, repo, o.dir)
		for _, named := range []bool{true, false} {
			name := o.dir + "/discovered"
			r := appRequest{app: o.app, path: o.dir}
			if named {
				name, r.plugin = o.dir+"/named", pluginName
			}
			t.Run(name, func(t *testing.T) {
				res := s.request(t, repo, r)
				if res.Error != "" || !res.Generated {
					t.Fatalf("not rendered (generated=%v): %s", res.Generated, res.Error)
				}
				if res.SourceType != "Plugin" {
					t.Errorf("the repo-server took it for a %s application", res.SourceType)
				}
				if res.Match == nil || !res.Match.IsSupported || !res.Match.IsDiscoveryEnabled {
					t.Errorf("MatchRepository %+v: the plugin's discovery did not claim it", res.Match)
				}
				if len(res.Manifests) != len(res.Objects) {
					t.Errorf("%d manifests became %d objects", len(res.Manifests), len(res.Objects))
				}
				if d := sameObjects(want, res.Objects); d != "" {
					t.Errorf("the sidecar's objects differ from the host's kustomize build: %s", d)
				}
			})
		}
	}
}

// application is the part of examples/argocd/application.yaml the repo-server's request is
// made of.
type application struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Source struct {
			Path   string `json:"path"`
			Plugin *struct {
				Name string `json:"name"`
			} `json:"plugin"`
		} `json:"source"`
	} `json:"spec"`
}

// TestApplicationExample sends the request examples/argocd/application.yaml makes.
func TestApplicationExample(t *testing.T) {
	b, err := os.ReadFile(repoPath("examples", "argocd", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app application
	if err := yaml.Unmarshal(b, &app); err != nil {
		t.Fatal(err)
	}
	if app.Spec.Source.Plugin == nil {
		t.Fatal("application.yaml names no plugin")
	}
	repo := checkout(t)
	res := realSidecar(t).request(t, repo, appRequest{app: app.Metadata.Name, path: app.Spec.Source.Path, plugin: app.Spec.Source.Plugin.Name})
	if res.Error != "" || !res.Generated {
		t.Fatalf("not rendered: %s", res.Error)
	}
	if d := sameObjects(hostBuild(t, repo, app.Spec.Source.Path), res.Objects); d != "" {
		t.Error(d)
	}
}

// TestApplicationsNotOursAreNotMatched: directories without the annotation — someone else's
// kustomization, and an overlay's spec/ (a kustomization, but not an application) — are not
// claimed. Left to discovery, the repo-server falls back to its built-in kustomize; naming the
// plugin anyway is an error, not an empty render.
func TestApplicationsNotOursAreNotMatched(t *testing.T) {
	s := realSidecar(t)
	repo := checkout(t)
	for _, dir := range []string{"e2e/argocd/testdata/not-ours", "overlays/three-node/spec"} {
		t.Run(dir, func(t *testing.T) {
			res := s.request(t, repo, appRequest{app: "not-ours", path: dir})
			if res.Match == nil || res.Match.IsSupported || !res.Match.IsDiscoveryEnabled {
				t.Errorf("MatchRepository %+v, want not supported (discovery enabled)", res.Match)
			}
			if res.SourceType != "Kustomize" || res.Generated || res.Error != "" {
				t.Errorf("discovered: source type %q, generated %v, error %q; want the built-in Kustomize", res.SourceType, res.Generated, res.Error)
			}

			res = s.request(t, repo, appRequest{app: "not-ours", path: dir, plugin: pluginName})
			t.Logf("named anyway: %s", res.Error)
			want := fmt.Sprintf("could not find cmp-server plugin with name %q supporting the given repository", pluginName)
			if res.Generated || !strings.Contains(res.Error, want) {
				t.Errorf("named: generated %v, error %q; want %q", res.Generated, res.Error, want)
			}
		})
	}
}

// generateVariant returns plugin.yaml with its generate script (spec.generate.args[0], run by
// sh -c) rewritten, failing if the rewrite changes nothing: a reworded plugin.yaml must not
// make these tests pass vacuously.
func generateVariant(t *testing.T, rewrite func(script string) string) []byte {
	t.Helper()
	var p struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(pluginYAML(t), &p); err != nil {
		t.Fatal(err)
	}
	gen, _ := p.Spec["generate"].(map[string]any)
	args, _ := gen["args"].([]any)
	var script string
	if len(args) == 1 {
		script, _ = args[0].(string)
	}
	if script == "" {
		t.Fatal("plugin.yaml's spec.generate.args is not one sh -c script")
	}
	changed := rewrite(script)
	if changed == script {
		t.Fatal("the rewrite of plugin.yaml's generate script changed nothing")
	}
	gen["args"] = []any{changed}
	b, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replaceOnce(old, replacement string) func(string) string {
	return func(s string) string {
		if strings.Count(s, old) != 1 {
			return s
		}
		return strings.Replace(s, old, replacement, 1)
	}
}

// TestRenderWithoutEnableExecFailsLoudly runs the shipped plugin with `--enable-exec` removed:
// kustomize then skips the generator silently and exits 0. The plugin's guard must turn that
// into an error carrying its own message — which reaches the repo-server with the app's name
// and path from the ARGOCD_APP_* environment — and never into an empty manifest list, which
// Argo CD would sync by pruning the database.
func TestRenderWithoutEnableExecFailsLoudly(t *testing.T) {
	s := sidecarFor(t, "without-exec", generateVariant(t, replaceOnce(buildWithExec, "kustomize build --enable-alpha-plugins .")))
	repo := checkout(t)
	for _, o := range overlays(t) {
		t.Run(o.dir, func(t *testing.T) {
			res := s.request(t, repo, appRequest{app: o.app, path: o.dir, plugin: pluginName})
			if res.Generated || len(res.Objects) != 0 {
				t.Fatalf("a render without the generator was accepted: %d objects", len(res.Objects))
			}
			t.Logf("the error Argo CD shows: %s", res.Error)
			for _, want := range []string{
				fmt.Sprintf("CMP processing failed for application %q", o.app),
				"failed exit status 1",
				fmt.Sprintf("rqlite-krm: kustomize build of %s (app %s) produced no StatefulSet: the rqlite-fn generator did not run; kustomize needs --enable-alpha-plugins --enable-exec and rqlite-fn on PATH", o.dir, o.app),
			} {
				if !strings.Contains(res.Error, want) {
					t.Errorf("error lacks %q:\n%s", want, res.Error)
				}
			}
		})
	}
}

// TestUnguardedPluginRendersNothing is the control for the test above: the same plugin without
// its guard (generate = the bare kustomize build without --enable-exec) is accepted by the real
// cmp-server and repo-server code as a successful render of zero objects. That is the prune
// hazard the guard exists for, shown on the real engine.
func TestUnguardedPluginRendersNothing(t *testing.T) {
	s := sidecarFor(t, "unguarded", generateVariant(t, func(string) string { return "kustomize build --enable-alpha-plugins .\n" }))
	res := s.request(t, checkout(t), appRequest{app: "rqlite-three-node", path: "overlays/three-node", plugin: pluginName})
	if res.Error != "" || !res.Generated || len(res.Objects) != 0 {
		t.Fatalf("want a successful, empty render (the hazard), got generated %v, %d objects, error %q", res.Generated, len(res.Objects), res.Error)
	}
}

// TestRqliteFnMissingFailsLoudly runs the shipped script with kustomize found but rqlite-fn not
// on kustomize's PATH (an image built without it): kustomize's own error reaches the
// repo-server, and no manifests do.
func TestRqliteFnMissingFailsLoudly(t *testing.T) {
	// A function keeps kustomize reachable while PATH (exported, so kustomize inherits it)
	// no longer holds /usr/local/bin.
	s := sidecarFor(t, "no-rqlite-fn", generateVariant(t, replaceOnce("set -eu\n",
		"set -eu\nkustomize() { /usr/local/bin/kustomize \"$@\"; }\nPATH=/bin\n")))
	res := s.request(t, checkout(t), appRequest{app: "rqlite-three-node", path: "overlays/three-node", plugin: pluginName})
	if res.Generated || len(res.Objects) != 0 {
		t.Fatalf("a render without rqlite-fn was accepted: %d objects", len(res.Objects))
	}
	if want := `exec: "rqlite-fn": executable file not found in $PATH`; !strings.Contains(res.Error, want) {
		t.Errorf("error lacks %q:\n%s", want, res.Error)
	}
}

// TestVerifyFindingsReachTheError: an application the plugin claims whose render kustomize
// accepts but `rqlite-fn verify` rejects fails with verify's findings in the error Argo CD
// shows, and without manifests.
func TestVerifyFindingsReachTheError(t *testing.T) {
	const dir = "e2e/argocd/testdata/outer-name-prefix"
	res := realSidecar(t).request(t, checkout(t), appRequest{app: "team-rqlite", path: dir, plugin: pluginName})
	if res.Generated || len(res.Objects) != 0 {
		t.Fatalf("a render with broken references was accepted: %d objects", len(res.Objects))
	}
	if res.Match == nil || !res.Match.IsSupported {
		t.Errorf("MatchRepository %+v: the annotated application was not claimed", res.Match)
	}
	t.Logf("the error Argo CD shows: %s", res.Error)
	for _, want := range []string{
		"failed exit status 1",
		"StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -disco-config -> Service rqlite/rqlite-headless: no such Service",
		"broken reference(s) in 1 cluster(s)",
	} {
		if !strings.Contains(res.Error, want) {
			t.Errorf("error lacks %q:\n%s", want, res.Error)
		}
	}
}
