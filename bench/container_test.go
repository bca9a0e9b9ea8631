//go:build bench && linux

package bench

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// BenchmarkContainer compares the function image (RQLITE_FN_IMAGE, which bench/run.sh builds with
// `make image`) with the release binary it contains (RQLITE_FN_BIN). Each iteration runs both
// sides once, alternating which goes first, so that both see the same machine; each side's wall
// time is its own metric (the report takes the median over -count), and ns/op is the pair. Only
// wall time: a container's CPU is spent by the engine's processes, not by the docker CLI this
// process waits for.
//
//   - noop: `rqlite-fn version` (the binary's start-up) against `docker run` of the image with
//     the same argument: what the engine itself costs per container.
//   - krm/specs=1: one spec in KRM mode (a kustomize generator call) against `docker run -i` with
//     the options kustomize passes (kyaml fn/runtime/container).
//   - kustomize/three-node: `kustomize build` of overlays/three-node with the exec form against
//     the container form (the annotation switched, --enable-alpha-plugins only).
func BenchmarkContainer(b *testing.B) {
	image := os.Getenv("RQLITE_FN_IMAGE")
	if image == "" {
		b.Skip("RQLITE_FN_IMAGE is not set; bench/run.sh sets it")
	}
	bin := binary(b, "RQLITE_FN_BIN")
	kustomize := binary(b, "KUSTOMIZE_BIN")
	docker, err := exec.LookPath("docker")
	if err != nil {
		b.Fatalf("docker CLI: %v", err)
	}
	oneSpec := kustomizeResourceList(b)
	kustomizeOpts := []string{"run", "--rm", "-i", "-a", "STDIN", "-a", "STDOUT", "-a", "STDERR", "--network", "none",
		"--user", "nobody", "--security-opt=no-new-privileges", "-e", "LOG_TO_STDERR=true", "-e", "STRUCTURED_RESULTS=true", image}
	tree := containerOverlays(b, image)
	overlay := filepath.Join("overlays", "three-node")
	repo, _ := filepath.Abs("..")
	command := func(dir string, env []string, stdin []byte, name string, args ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), env...)
			if stdin != nil {
				cmd.Stdin = bytes.NewReader(stdin)
			}
			return cmd
		}
	}
	withFn := "PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	cases := []struct {
		name         string
		unitA, unitB string
		sideA, sideB func() *exec.Cmd
	}{
		{"noop", "binary-ns/op", "docker-ns/op",
			command("", nil, nil, bin, "version"), command("", nil, nil, docker, "run", "--rm", "--network", "none", image, "version")},
		{"krm/specs=1", "binary-ns/op", "docker-ns/op",
			command("", nil, oneSpec, bin), command("", nil, oneSpec, docker, kustomizeOpts...)},
		{"kustomize/three-node", "exec-ns/op", "container-ns/op",
			command(repo, []string{withFn}, nil, kustomize, "build", "--enable-alpha-plugins", "--enable-exec", overlay),
			command(tree, nil, nil, kustomize, "build", "--enable-alpha-plugins", overlay)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var a, d time.Duration
			i := 0
			for b.Loop() {
				first, second := c.sideA, c.sideB
				if i%2 == 1 {
					first, second = second, first
				}
				t0 := time.Now()
				out1 := runOut(b, first())
				t1 := time.Now()
				out2 := runOut(b, second())
				t2 := time.Now()
				if i%2 == 0 {
					a, d = a+t1.Sub(t0), d+t2.Sub(t1)
				} else {
					d, a = d+t1.Sub(t0), a+t2.Sub(t1)
				}
				if !bytes.Equal(out1, out2) {
					b.Fatalf("%s: the two sides print different output", c.name)
				}
				i++
			}
			b.ReportMetric(float64(a.Nanoseconds())/float64(i), c.unitA)
			b.ReportMetric(float64(d.Nanoseconds())/float64(i), c.unitB)
		})
	}
}

func runOut(b *testing.B, cmd *exec.Cmd) []byte {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

var execFunctionAnnotation = regexp.MustCompile(`(?m)^    config\.kubernetes\.io/function: \|\n      exec:\n        path: rqlite-fn\n(        args: \[verify\]\n)?`)

// containerOverlays copies base/ and overlays/ and switches every function annotation to the
// container form (as e2e/kustomize's TestContainerForm does), returning the copy's root.
func containerOverlays(b *testing.B, image string) string {
	b.Helper()
	root := b.TempDir()
	for _, d := range []string{"base", "overlays"} {
		src := filepath.Join("..", d)
		err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel("..", p)
			dst := filepath.Join(root, rel)
			if e.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			data = []byte(execFunctionAnnotation.ReplaceAllString(string(data),
				fmt.Sprintf("    config.kubernetes.io/function: |\n      container:\n        image: %s\n", image)))
			return os.WriteFile(dst, data, 0o644)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return root
}
