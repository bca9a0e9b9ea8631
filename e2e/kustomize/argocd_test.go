package kustomize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// configManagementPlugin is the part of Argo CD's plugin configuration this repository uses.
// Decoding is strict, so a misspelt or misplaced key (which Argo CD would ignore, leaving the
// plugin without discovery or generate) fails here.
type configManagementPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version  string      `json:"version,omitempty"`
		Init     *cmpCommand `json:"init,omitempty"`
		Generate cmpCommand  `json:"generate"`
		Discover struct {
			FileName string `json:"fileName,omitempty"`
			Find     *struct {
				cmpCommand `json:",inline"`
				Glob       string `json:"glob,omitempty"`
			} `json:"find,omitempty"`
		} `json:"discover"`
		PreserveFileMode bool `json:"preserveFileMode,omitempty"`
		ProvideGitCreds  bool `json:"provideGitCreds,omitempty"`
	} `json:"spec"`
}

type cmpCommand struct {
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

// argv is how Argo CD's cmp-server builds the process: command followed by args.
func (c cmpCommand) argv() []string { return append(append([]string{}, c.Command...), c.Args...) }

type application struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Project string `json:"project"`
		Source  struct {
			RepoURL        string `json:"repoURL"`
			TargetRevision string `json:"targetRevision"`
			Path           string `json:"path"`
			Plugin         *struct {
				Name string `json:"name,omitempty"`
				Env  []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"env,omitempty"`
			} `json:"plugin"`
		} `json:"source"`
		Destination struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy struct {
			SyncOptions []string `json:"syncOptions,omitempty"`
		} `json:"syncPolicy"`
	} `json:"spec"`
}

func strictYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadPlugin(t *testing.T) configManagementPlugin {
	t.Helper()
	var p configManagementPlugin
	strictYAML(t, repoPath("examples", "argocd", "plugin.yaml"), &p)
	return p
}

func TestArgoCDPluginConfig(t *testing.T) {
	p := loadPlugin(t)
	if p.APIVersion != "argoproj.io/v1alpha1" || p.Kind != "ConfigManagementPlugin" || p.Metadata.Name != "rqlite-krm" {
		t.Errorf("header %s %s %s", p.APIVersion, p.Kind, p.Metadata.Name)
	}
	gen := p.Spec.Generate.argv()
	if len(gen) != 3 || gen[0] != "sh" || gen[1] != "-c" {
		t.Fatalf("generate must be sh -c SCRIPT, got %q", gen)
	}
	for _, w := range []string{"kustomize build --enable-alpha-plugins --enable-exec .", "^kind: StatefulSet$", "rqlite-fn verify >&2"} {
		if !strings.Contains(gen[2], w) {
			t.Errorf("generate script lacks %q", w)
		}
	}
	if p.Spec.Discover.Find == nil || len(p.Spec.Discover.Find.argv()) != 3 {
		t.Fatalf("discover must be a find command")
	}
}

// argocdEnv is the environment Argo CD's cmp-server gives a plugin command: the sidecar's own
// environment (here: PATH with kustomize and rqlite-fn), the build environment and the
// Application's plugin env, prefixed ARGOCD_ENV_.
func argocdEnv(t *testing.T, app, path string) []string {
	t.Helper()
	return toolEnv(t,
		"ARGOCD_APP_NAME="+app,
		"ARGOCD_APP_NAMESPACE=rqlite",
		"ARGOCD_APP_REVISION=0123456789abcdef0123456789abcdef01234567",
		"ARGOCD_APP_REVISION_SHORT=0123456",
		"ARGOCD_APP_SOURCE_PATH="+path,
		"ARGOCD_APP_SOURCE_REPO_URL=https://github.com/rqlite/rqlite-krm.git",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=v0.1.0",
		"ARGOCD_ENV_FOO=bar",
		"KUBE_VERSION=1.37.1",
		"KUBE_API_VERSIONS=v1,apps/v1,batch/v1,policy/v1,autoscaling/v2,networking.k8s.io/v1,rbac.authorization.k8s.io/v1",
	)
}

// checkout is the repository as Argo CD hands it to the sidecar: a copy, not this working tree.
func checkout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"base", "overlays", filepath.Join("e2e", "kustomize", "testdata")} {
		copyTree(t, repoPath(d), filepath.Join(dir, d))
	}
	return dir
}

func TestArgoCDPluginDiscovery(t *testing.T) {
	find := loadPlugin(t).Spec.Discover.Find.argv()
	repo := checkout(t)
	for _, c := range overlayCases {
		r := execIn(t, filepath.Join(repo, c.dir), toolEnv(t), nil, find[0], find[1:]...)
		if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
			t.Errorf("%s not discovered: exit %d, stdout %q", c.dir, r.code, r.stdout)
		}
	}
	for _, dir := range []string{"e2e/kustomize/testdata/outer-namespace", "overlays/three-node/spec"} {
		r := execIn(t, filepath.Join(repo, dir), toolEnv(t), nil, find[0], find[1:]...)
		if r.code != 0 || r.stdout != "" {
			t.Errorf("%s must not match (and not error): exit %d, stdout %q", dir, r.code, r.stdout)
		}
	}
}

func TestArgoCDPluginGenerate(t *testing.T) {
	gen := loadPlugin(t).Spec.Generate.argv()
	repo := checkout(t)
	for _, c := range overlayCases {
		t.Run(c.name, func(t *testing.T) {
			r := execIn(t, filepath.Join(repo, c.dir), argocdEnv(t, "rqlite-"+c.name, c.dir), nil, gen[0], gen[1:]...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			want, err := os.ReadFile(repoPath("testdata", "overlays", c.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if r.stdout != string(want) {
				t.Errorf("plugin output differs from kustomize's (testdata/overlays/%s.yaml):\n%s", c.name, firstDifference(string(want), r.stdout))
			}
			if !strings.HasPrefix(r.stderr, "ok: 1 cluster(s)") {
				t.Errorf("stderr: %q", r.stderr)
			}
		})
	}
}

// TestArgoCDPluginFailsLoudly runs the generate command in the ways a sidecar gets it wrong: each
// must exit non-zero with nothing on stdout (Argo CD would otherwise sync, and prune, an empty or
// broken render) and say why on stderr.
func TestArgoCDPluginFailsLoudly(t *testing.T) {
	gen := loadPlugin(t).Spec.Generate.argv()
	repo := checkout(t)
	withoutExec := strings.Replace(gen[2], "kustomize build --enable-alpha-plugins --enable-exec .", "kustomize build --enable-alpha-plugins .", 1)
	if withoutExec == gen[2] {
		t.Fatal("could not remove --enable-exec from the generate script")
	}
	kustomizeOnly := t.TempDir()
	if err := os.Symlink(testenv.Tool(t, "kustomize"), filepath.Join(kustomizeOnly, "kustomize")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir, script string
		env               []string
		want              []string
	}{
		{
			name: "without --enable-exec", dir: "overlays/three-node", script: withoutExec,
			env:  argocdEnv(t, "rqlite-three-node", "overlays/three-node"),
			want: []string{"rqlite-krm: kustomize build of overlays/three-node (app rqlite-three-node) produced no StatefulSet", "--enable-exec"},
		},
		{
			name: "rqlite-fn not on PATH", dir: "overlays/three-node", script: gen[2],
			env:  []string{"PATH=" + kustomizeOnly + ":/usr/bin:/bin", "HOME=" + t.TempDir()},
			want: []string{`exec: "rqlite-fn": executable file not found in $PATH`},
		},
		{
			name: "broken references", dir: "e2e/kustomize/testdata/outer-name-prefix", script: gen[2],
			env: argocdEnv(t, "bad", "e2e/kustomize/testdata/outer-name-prefix"),
			want: []string{
				`StatefulSet rqlite/team-rqlite spec.template.spec.containers[rqlite].args -disco-config -> Service rqlite/rqlite-headless: no such Service`,
				"broken reference(s) in 1 cluster(s)",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := execIn(t, filepath.Join(repo, c.dir), c.env, nil, gen[0], gen[1], c.script)
			if r.code == 0 {
				t.Fatalf("succeeded; stdout %d bytes", len(r.stdout))
			}
			if r.stdout != "" {
				t.Errorf("a failed render printed manifests (%d bytes)", len(r.stdout))
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestArgoCDRepoServerPatch applies examples/argocd (a kustomize Component) to a minimal
// argocd-repo-server and checks the sidecar contract Argo CD documents: argocd-cmp-server as the
// entrypoint, user 999, the shared var-files and plugins volumes, plugin.yaml at
// /home/argocd/cmp-server/config/plugin.yaml, and a /tmp of its own.
func TestArgoCDRepoServerPatch(t *testing.T) {
	objs := decode(t, kustomizeBuild(t, "e2e/kustomize/testdata/argocd-install").stdout)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", "argocd-repo-server").into(t, &dep)
	cms := ofKind(objs, "ConfigMap")
	if len(cms) != 1 || !strings.HasPrefix(cms[0].name(), "rqlite-krm-plugin-") {
		t.Fatalf("want one hashed rqlite-krm-plugin ConfigMap, got %v", kindCounts(objs))
	}
	var cm corev1.ConfigMap
	cms[0].into(t, &cm)
	plugin, _ := os.ReadFile(repoPath("examples", "argocd", "plugin.yaml"))
	if cm.Data["plugin.yaml"] != string(plugin) {
		t.Error("the ConfigMap does not hold examples/argocd/plugin.yaml verbatim")
	}

	spec := dep.Spec.Template.Spec
	byName := map[string]corev1.Container{}
	for _, c := range spec.Containers {
		byName[c.Name] = c
	}
	repoServer, side := byName["argocd-repo-server"], byName["rqlite-krm"]
	if len(spec.Containers) != 2 || repoServer.Name == "" {
		t.Fatalf("want the repo-server and the rqlite-krm sidecar, got %d containers", len(spec.Containers))
	}
	if side.Name != "rqlite-krm" || len(side.Command) != 1 || side.Command[0] != "/var/run/argocd/argocd-cmp-server" {
		t.Errorf("sidecar %q command %q", side.Name, side.Command)
	}
	if sc := side.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 999 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("sidecar must run as user 999: %+v", side.SecurityContext)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range side.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if mounts["/var/run/argocd"].Name != "var-files" || mounts["/home/argocd/cmp-server/plugins"].Name != "plugins" ||
		mounts["/tmp"].Name != "rqlite-krm-tmp" {
		t.Errorf("mounts %+v", side.VolumeMounts)
	}
	pm := mounts["/home/argocd/cmp-server/config/plugin.yaml"]
	if pm.SubPath != "plugin.yaml" {
		t.Errorf("plugin.yaml mount %+v", pm)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	if v := volumes[pm.Name]; v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("plugin volume %+v does not mount ConfigMap %s", v, cm.Name)
	}
	for _, n := range []string{"var-files", "plugins", "rqlite-krm-tmp"} {
		if _, ok := volumes[n]; !ok {
			t.Errorf("volume %s missing", n)
		}
	}
	if strings.Contains(repoServer.Image, "rqlite") || len(repoServer.VolumeMounts) != 2 {
		t.Error("the patch changed the repo-server container")
	}

	// The sidecar image gets rqlite-fn from where the function image installs it.
	df, _ := os.ReadFile(repoPath("examples", "argocd", "Dockerfile"))
	root, _ := os.ReadFile(repoPath("Dockerfile"))
	if !strings.Contains(string(root), "/usr/local/bin/rqlite-fn") || !strings.Contains(string(df), "COPY --from=fn /usr/local/bin/rqlite-fn ") ||
		!strings.Contains(string(df), side.Image[strings.LastIndex(side.Image, ":")+1:]) {
		t.Error("examples/argocd/Dockerfile and the function image disagree on where rqlite-fn lives or on the version")
	}
}

func TestArgoCDApplication(t *testing.T) {
	var app application
	strictYAML(t, repoPath("examples", "argocd", "application.yaml"), &app)
	p := loadPlugin(t)
	wantPlugin := p.Metadata.Name
	if p.Spec.Version != "" {
		wantPlugin += "-" + p.Spec.Version
	}
	if app.Kind != "Application" || app.Spec.Source.Plugin == nil || app.Spec.Source.Plugin.Name != wantPlugin {
		t.Fatalf("Application must name the plugin %q: %+v", wantPlugin, app.Spec.Source.Plugin)
	}
	var c *overlayCase
	for i := range overlayCases {
		if overlayCases[i].dir == app.Spec.Source.Path {
			c = &overlayCases[i]
		}
	}
	if c == nil {
		t.Fatalf("source.path %q is not one of the overlays", app.Spec.Source.Path)
	}
	if app.Spec.Destination.Namespace != c.namespace {
		t.Errorf("destination namespace %q, but %s renders into %q", app.Spec.Destination.Namespace, c.dir, c.namespace)
	}
	find := p.Spec.Discover.Find.argv()
	if r := execIn(t, repoPath(c.dir), toolEnv(t), nil, find[0], find[1:]...); strings.TrimSpace(r.stdout) == "" {
		t.Errorf("the plugin does not discover %s", c.dir)
	}
}
