package argocd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/internal/testenv"
)

const (
	// testImageRepo names the sidecar images these tests build; the tag is a hash of the
	// Dockerfile and the staged context, so a changed rqlite-fn, kustomize or Dockerfile can
	// never run as a stale image, and an unchanged tree reuses the image it built before.
	testImageRepo = "rqlite-krm-argocd-cmp-test"
	// testImageLabel marks them for pruning.
	testImageLabel = "io.rqlite-krm.test=argocd-sidecar"

	// What repo-server-patch.yaml mounts, where Argo CD expects it.
	cmpServerPath = "/var/run/argocd/argocd-cmp-server"
	pluginConfig  = "/home/argocd/cmp-server/config/plugin.yaml"
	pluginSockets = "/home/argocd/cmp-server/plugins"
	// Argo CD runs plugin sidecars as its user 999.
	argocdUser = 999
	pluginName = "rqlite-krm"
)

var sidecarImage struct {
	once sync.Once
	tag  string
	err  error
}

// buildSidecarImage builds examples/argocd/Dockerfile from a context staged by
// hack/stage-argocd-image.sh, exactly as `make argocd-image` does, once per run.
func buildSidecarImage(t testing.TB) string {
	t.Helper()
	sidecarImage.once.Do(func() { sidecarImage.tag, sidecarImage.err = buildImage() })
	if sidecarImage.err != nil {
		t.Fatal(sidecarImage.err)
	}
	return sidecarImage.tag
}

func buildImage() (string, error) {
	if _, err := dockerPath(); err != nil {
		return "", err
	}
	kustomize, err := testenv.LookupTool("kustomize")
	if err != nil {
		return "", err
	}
	busybox, err := testenv.LookupTool("busybox")
	if err != nil {
		return "", err
	}
	ctx, err := os.MkdirTemp("", "rqlite-krm-argocd-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctx)
	stage := exec.Command("bash", repoPath("hack", "stage-argocd-image.sh"), ctx, fnBin, kustomize, busybox)
	if out, err := stage.CombinedOutput(); err != nil {
		return "", fmt.Errorf("staging the sidecar image: %v\n%s", err, out)
	}
	dockerfile := repoPath("examples", "argocd", "Dockerfile")
	sum, err := contentHash(dockerfile, ctx)
	if err != nil {
		return "", err
	}
	tag := testImageRepo + ":" + sum
	if _, err := dockerOut("image", "inspect", tag); err == nil {
		return tag, nil
	}
	if _, err := dockerOut("build", "--quiet", "--label", testImageLabel, "-f", dockerfile, "-t", tag, ctx); err != nil {
		return "", fmt.Errorf("building the sidecar image from examples/argocd/Dockerfile: %w", err)
	}
	// Images of earlier trees pile up otherwise. A day's grace keeps the image of another
	// worktree's run, which may be starting containers right now; images in use by a
	// container are never removed.
	_, _ = dockerOut("image", "prune", "--all", "--force", "--filter", "label="+testImageLabel, "--filter", "until=24h")
	return tag, nil
}

// contentHash hashes the Dockerfile and every file of the context: paths, modes, symlink
// targets and contents.
func contentHash(dockerfile, ctx string) (string, error) {
	h := sha256.New()
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "Dockerfile %d\n", len(df))
	h.Write(df)
	var paths []string
	err = filepath.WalkDir(ctx, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != ctx {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(ctx, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %v\n", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			fmt.Fprintln(h, target)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// sidecar is one running plugin container; the repo-server reaches it through sockDir.
type sidecar struct {
	name    string
	sockDir string
}

var sidecars struct {
	sync.Mutex
	running map[string]sidecar
}

// sidecarFor starts (once per run) a sidecar serving the given plugin.yaml, as
// repo-server-patch.yaml runs it. Tests that ask for the same variant share the container.
func sidecarFor(t *testing.T, variant string, pluginYAML []byte) sidecar {
	t.Helper()
	sidecars.Lock()
	defer sidecars.Unlock()
	if s, ok := sidecars.running[variant]; ok {
		return s
	}
	image := buildSidecarImage(t)
	cmpServer, err := filepath.EvalSymlinks(testenv.Tool(t, "argocd-cmp-server"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rqlite-krm-argocd-"+variant+"-")
	if err != nil {
		t.Fatal(err)
	}
	s := sidecar{name: fmt.Sprintf("rqlite-krm-argocd-%s-%d", variant, time.Now().UnixNano()), sockDir: filepath.Join(dir, "plugins")}
	// The socket directory is the `plugins` emptyDir both containers mount; the sidecar's user
	// must be able to create its socket there.
	if err := os.Mkdir(s.sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.sockDir, argocdUser, argocdUser); err != nil {
		if err := os.Chmod(s.sockDir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	plugin := filepath.Join(dir, "plugin.yaml")
	if err := os.WriteFile(plugin, pluginYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	// repo-server-patch.yaml, flag by flag. The engine's default seccomp profile is the
	// patch's RuntimeDefault; --network none is stricter than a pod (the plugin needs none).
	docker(t, "run", "--detach", "--name", s.name,
		"--user", fmt.Sprintf("%d:%d", argocdUser, argocdUser),
		"--read-only", "--tmpfs", "/tmp:rw,size=256m",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--network", "none",
		"--env", "HOME=/tmp",
		"--volume", cmpServer+":"+cmpServerPath+":ro",
		"--volume", plugin+":"+pluginConfig+":ro",
		"--volume", s.sockDir+":"+pluginSockets,
		"--entrypoint", cmpServerPath,
		image)
	if sidecars.running == nil {
		sidecars.running = map[string]sidecar{}
	}
	sidecars.running[variant] = s

	sock := filepath.Join(s.sockDir, pluginName+".sock")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			return s
		}
		state, _ := dockerOut("inspect", "--format", "{{.State.Status}} exit {{.State.ExitCode}}", s.name)
		if !strings.HasPrefix(state, "running") || time.Now().After(deadline) {
			logs, _ := dockerOut("logs", s.name)
			t.Fatalf("sidecar %s (%s) never served %s: container %s\n%s", s.name, variant, sock, strings.TrimSpace(state), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopSidecars removes every sidecar of the run, printing the cmp-server's logs first when a
// test failed.
func stopSidecars(printLogs bool) {
	sidecars.Lock()
	defer sidecars.Unlock()
	for variant, s := range sidecars.running {
		if printLogs {
			logs, _ := dockerOut("logs", s.name)
			fmt.Fprintf(os.Stderr, "--- argocd-cmp-server logs of sidecar %q (%s):\n%s\n", variant, s.name, logs)
		}
		_, _ = dockerOut("rm", "--force", "--volumes", s.name)
		_ = os.RemoveAll(filepath.Dir(s.sockDir))
	}
	sidecars.running = nil
}

// cmpResult is argocd-cmpclient's JSON answer (hack/tools/argocd/cmpclient, type Result).
type cmpResult struct {
	SourceType string `json:"sourceType"`
	Match      *struct {
		IsSupported        bool `json:"isSupported"`
		IsDiscoveryEnabled bool `json:"isDiscoveryEnabled"`
	} `json:"match"`
	Generated bool             `json:"generated"`
	Manifests []string         `json:"manifests"`
	Objects   []map[string]any `json:"objects"`
	Error     string           `json:"error"`
}

// appRequest is one manifest request of the repo-server for an Application.
type appRequest struct {
	app  string // metadata.name
	path string // spec.source.path
	// plugin is spec.source.plugin.name; "" leaves it to the repo-server's discovery.
	plugin string
}

// request sends one manifest request to the sidecar through argocd-cmpclient, streaming the
// checkout at repo, and asks the plugin socket for its MatchRepository answer as well.
func (s sidecar) request(t *testing.T, repo string, r appRequest) cmpResult {
	t.Helper()
	args := []string{"-repo", repo, "-path", r.path, "-app", r.app, "-plugin", r.plugin, "-match", pluginName + ".sock",
		"-plugin-env", "FOO=bar"}
	cmd := exec.Command(testenv.Tool(t, "argocd-cmpclient"), args...)
	// Nothing from the developer's shell: the repo-server's own environment is not the plugin's.
	cmd.Env = []string{"ARGOCD_PLUGINSOCKFILEPATH=" + s.sockDir, "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("argocd-cmpclient %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res cmpResult
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("argocd-cmpclient printed no result: %v\nstderr:\n%s", err, stderr.String())
	}
	return res
}
