package verify_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// Every render the project ships or documents must verify with zero findings: verify runs as the
// kustomize transformer, the kpt validator and the Argo CD plugin's gate, so one false finding
// stops every user of that kind of render. The tests below render each example, overlay, naming
// scheme and the import-helm pipe and run the same command users run.

// verifyStream runs `rqlite-fn verify` on a stream in-process and returns its report lines.
func verifyStream(t *testing.T, stream []byte) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main([]string{"verify"}, bytes.NewReader(stream), &out, &errb)
	return code, out.String() + errb.String()
}

func mustVerify(t *testing.T, what string, stream []byte) {
	t.Helper()
	if code, out := verifyStream(t, stream); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("%s: rqlite-fn verify exit %d, want 0 and no finding:\n%s", what, code, out)
	}
}

// renderCLI runs `rqlite-fn render -` on a spec in-process.
func renderCLI(t *testing.T, spec []byte) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main([]string{"render", "-"}, bytes.NewReader(spec), &out, &errb); code != 0 {
		t.Fatalf("rqlite-fn render: exit %d\n%s", code, errb.String())
	}
	return out.Bytes()
}

func repoFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{testenv.RepoRoot(t)}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExamplesVerify(t *testing.T) {
	for _, f := range []string{"examples/rqlite.yaml", "examples/kpt/rqlite.yaml"} {
		t.Run(f, func(t *testing.T) { mustVerify(t, f, renderCLI(t, repoFile(t, f))) })
	}
	// The kpt package's committed output, as `kpt fn render` wrote it.
	t.Run("examples/kpt/rqlite.generated.yaml", func(t *testing.T) {
		mustVerify(t, "rqlite.generated.yaml", repoFile(t, "examples", "kpt", "rqlite.generated.yaml"))
	})
}

// TestGoldenSpecsVerify renders every spec of the golden tests (testdata/specs): helm-chart naming,
// TLS, auth, backups, metrics, autoscaling, recovery. A spec without a namespace leaves the shrink
// Job's RoleBinding naming "default" for kustomize's namespace transformer (the render warns);
// verify reports that one line, and nothing else, until a namespace is given.
func TestGoldenSpecsVerify(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "specs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs under testdata/specs (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			spec, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			stream := renderCLI(t, spec)
			if bytes.Contains(spec, []byte("\n  namespace: ")) || !bytes.Contains(stream, []byte("\nkind: RoleBinding\n")) {
				mustVerify(t, f, stream)
				return
			}
			code, out := verifyStream(t, stream)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "RoleBinding rqlite-shrink subjects[0].namespace -> ServiceAccount default/rqlite-shrink: ") {
				t.Errorf("without a namespace, want exactly the RoleBinding finding; exit %d:\n%s", code, out)
			}
			withNS := bytes.Replace(spec, []byte("\n  name: rqlite\n"), []byte("\n  name: rqlite\n  namespace: db\n"), 1)
			mustVerify(t, f+" with a namespace", renderCLI(t, withNS))
		})
	}
}

// TestNamingMatrixVerifies crosses both naming schemes with the features that write names into
// args and data: node and client TLS (server names, certificate DNS names), mutual TLS (TCP probes),
// auth, backups, fixed and autoscaled read-only pools, a non-default cluster domain, a Helm release
// name other than the cluster's.
func TestNamingMatrixVerifies(t *testing.T) {
	namings := map[string]string{
		"default":            "",
		"helm-chart":         "  naming: helm-chart\n",
		"helm-chart-release": "  naming: helm-chart\n  helmRelease: prod\n",
	}
	features := map[string]string{
		"plain":    "",
		"node-tls": "  tls:\n    node:\n      certManager:\n        issuerRef: {name: ca}\n      verifyClient: true\n",
		"client-mtls": "  tls:\n    client:\n      secretName: api-tls\n      verifyClient: true\n" +
			"  auth:\n    usersSecret: {name: users}\n    joinAs: cluster\n    shrinkUser: {username: op, passwordSecret: {name: op}}\n",
		"client-tls": "  tls:\n    client:\n      certManager:\n        issuerRef: {name: ca}\n",
		"backup":     "  backup:\n    s3: {bucket: b, path: p, region: r}\n    restore: {enabled: true}\n  clusterDomain: k8s.example.org\n",
		"metrics":    "  metrics:\n    enabled: true\n    podMonitor: {}\n",
	}
	pools := map[string]string{
		"voters-1":    "  voters: {replicas: 1}\n",
		"voters-5-ro": "  voters: {replicas: 5}\n  readOnly: {replicas: 2}\n",
		"autoscaled":  "  voters: {replicas: 3}\n  readOnly:\n    autoscaling: {minReplicas: 1, maxReplicas: 4}\n",
		"recovery":    "  voters: {replicas: 3}\n  recovery: {staticPeers: true}\n",
	}
	for nn, naming := range namings {
		for fn, feature := range features {
			for pn, pool := range pools {
				name := nn + "/" + fn + "/" + pn
				t.Run(name, func(t *testing.T) {
					spec := "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\nspec:\n" + naming + feature + pool
					mustVerify(t, name, renderCLI(t, []byte(spec)))
				})
			}
		}
	}
}

// TestImportHelmPipeVerifies is the migration path of the README and of issue 12:
// `rqlite-fn import-helm values.yaml --release R --namespace NS | rqlite-fn render - | rqlite-fn verify`.
// The values files (testdata/helm-values-*.yaml) are written here from the chart's documented
// keys.
func TestImportHelmPipeVerifies(t *testing.T) {
	cases := []struct{ values, release, namespace string }{
		{"helm-values-3.yaml", "rqlite", "db"},
		{"helm-values-3.yaml", "orders", "shop"},
		{"helm-values-3ro2.yaml", "rqlite", "db"},
		{"helm-values-3ro2.yaml", "prod", "db"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/%s", c.values, c.release, c.namespace), func(t *testing.T) {
			var spec, report bytes.Buffer
			code := cli.Main([]string{"import-helm", filepath.Join("testdata", c.values), "--release", c.release, "--namespace", c.namespace}, nil, &spec, &report)
			if code != 0 && code != 3 {
				t.Fatalf("import-helm: exit %d\n%s", code, report.String())
			}
			mustVerify(t, "import-helm | render", renderCLI(t, spec.Bytes()))
		})
	}
}

var (
	fnOnce sync.Once
	fnDir  string
	fnErr  error
)

// kustomizeBuild runs the real kustomize with the rqlite-fn of this tree first on PATH, as the
// overlays name the function by a bare name.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	kustomize := testenv.Tool(t, "kustomize")
	fnOnce.Do(func() {
		fnDir, fnErr = os.MkdirTemp("", "rqlite-krm-verify-fn-")
		if fnErr == nil {
			_, fnErr = testenv.BuildFunction(fnDir)
		}
	})
	if fnErr != nil {
		t.Fatal(fnErr)
	}
	cmd := exec.Command(kustomize, "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = []string{"PATH=" + fnDir + string(os.PathListSeparator) + "/usr/bin:/bin", "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, errb.String())
	}
	if out.Len() == 0 {
		t.Fatalf("kustomize build %s printed nothing", dir)
	}
	return out.Bytes()
}

// TestOverlaysVerify builds base/ and every overlay with the real kustomize, and spec-level
// namespace/namePrefix/labels overlays over both naming schemes, the way the README says to put
// them (on the spec, before the function runs).
func TestOverlaysVerify(t *testing.T) {
	root := testenv.RepoRoot(t)
	dirs, err := filepath.Glob(filepath.Join(root, "overlays", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no overlays (%v)", err)
	}
	for _, d := range append([]string{filepath.Join(root, "base")}, dirs...) {
		rel, _ := filepath.Rel(root, d)
		t.Run(rel, func(t *testing.T) { mustVerify(t, rel, kustomizeBuild(t, d)) })
	}
	for _, naming := range []string{"default", "helm-chart"} {
		for _, spec := range []struct{ name, body string }{
			{"voters", "  voters: {replicas: 3}\n"},
			{"readonly-tls", "  voters: {replicas: 3}\n  readOnly: {replicas: 2}\n  tls:\n    node:\n      certManager:\n        issuerRef: {name: ca}\n"},
		} {
			t.Run("prefix/"+naming+"/"+spec.name, func(t *testing.T) {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "kustomization.yaml"), "generators:\n- spec\n")
				writeFile(t, filepath.Join(dir, "spec", "kustomization.yaml"),
					"resources:\n- rqlite.yaml\nnamespace: databases\nnamePrefix: orders-\nlabels:\n- pairs: {team: orders}\n")
				writeFile(t, filepath.Join(dir, "spec", "rqlite.yaml"), "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n"+
					"  annotations:\n    config.kubernetes.io/local-config: \"true\"\n    config.kubernetes.io/function: |\n      exec:\n        path: rqlite-fn\n"+
					"spec:\n  naming: "+naming+"\n"+spec.body)
				stream := kustomizeBuild(t, dir)
				if !bytes.Contains(stream, []byte("name: orders-rqlite-headless")) || !bytes.Contains(stream, []byte("namespace: databases")) {
					t.Fatalf("the spec-level prefix and namespace did not reach the objects:\n%s", stream)
				}
				mustVerify(t, "namePrefix overlay", stream)
			})
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
