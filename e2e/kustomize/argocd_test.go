package kustomize

import (
	"os"
	"regexp"
	"strings"
	"testing"

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

	if side.Image != argocdSidecarImage(t) {
		t.Errorf("sidecar image %q, but examples/argocd/Dockerfile and the Makefile publish %q", side.Image, argocdSidecarImage(t))
	}
}

// argocdSidecarImage is the sidecar image the repository publishes: the name in
// examples/argocd/Dockerfile's header, tagged with the Makefile's VERSION, which is also what
// `make argocd-image` builds.
func argocdSidecarImage(t *testing.T) string {
	t.Helper()
	df, err := os.ReadFile(repoPath("examples", "argocd", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`(ghcr\.io/rqlite/rqlite-krm-argocd-cmp):<version>`).FindStringSubmatch(string(df))
	if name == nil {
		t.Fatal("examples/argocd/Dockerfile does not name the image (ghcr.io/rqlite/rqlite-krm-argocd-cmp:<version>)")
	}
	mk, err := os.ReadFile(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindStringSubmatch(string(mk))
	if version == nil {
		t.Fatal("Makefile has no VERSION ?= line")
	}
	if !regexp.MustCompile(`(?m)^ARGOCD_IMAGE \?= ` + regexp.QuoteMeta(name[1]) + `:\$\(VERSION\)$`).Match(mk) {
		t.Errorf("Makefile's ARGOCD_IMAGE is not %s:$(VERSION)", name[1])
	}
	return name[1] + ":" + version[1]
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
	// That the plugin claims and renders it through the real argocd-cmp-server is
	// e2e/argocd's TestApplicationExample.
}
