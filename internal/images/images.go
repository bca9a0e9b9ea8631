// Package images builds and runs container images for tests with the machine's Docker Engine.
// It is test-only (it takes a testing.TB); nothing under fn/ may import it.
//
// Nothing is pulled: the engine has no registry to pull from, so every image is built here,
// FROM scratch or FROM another image built here.
//
//	fn := images.Function(t)                        // the repository's Dockerfile, built from this tree
//	res := images.Run(t, images.RunSpec{Image: fn.Ref, Args: []string{"version"}})
//	ref := images.Build(t, images.BuildSpec{Repository: "rqlite-krm-test/sidecar", Dockerfile: df, Files: files})
//
// Build tags every image by content, <repository>:<hash of the Dockerfile, the context files and
// the build args>, and reuses an image whose tag the engine already has: a rerun with unchanged
// inputs costs one `docker image inspect`, and a changed input can never run a stale image.
// Within one test binary each distinct build runs once, however many tests ask for it.
//
// Run and Start name their containers rqlite-krm-test-<random>, label them with Label, and
// remove them when the test ends (also when it fails or times out). A docker CLI that is
// missing or an engine that does not answer fails the test with what to do: tests never skip.
package images

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Label is set on every container Run and Start create (value: the test's name), so that
// leftovers of a killed test run can be found: docker ps -a --filter label=io.rqlite-krm.test.
const Label = "io.rqlite-krm.test"

// DefaultTimeout bounds a Run or a Start's Wait when the spec sets no timeout.
const DefaultTimeout = 2 * time.Minute

var docker struct {
	once sync.Once
	path string
	err  error
}

// Docker returns the absolute path of the docker CLI once the engine has answered `docker
// version`; otherwise it fails the test with what is missing.
func Docker(t testing.TB) string {
	t.Helper()
	docker.once.Do(func() { docker.path, docker.err = findDocker() })
	if docker.err != nil {
		t.Fatalf("images: %v", docker.err)
	}
	return docker.path
}

func findDocker() (string, error) {
	path, err := exec.LookPath("docker")
	if err != nil {
		return "", errors.New("no docker CLI on PATH: these tests build and run container images with a Docker Engine " +
			"(Debian: apt-get install docker.io; or Docker's own packages), and never skip without one")
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "version", "--format", "{{.Server.Version}}")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return "", fmt.Errorf("the Docker Engine does not answer (`docker version`: %v: %s): start it (`service docker start`, "+
			"or dockerd), or point DOCKER_HOST at one; these tests never skip without one", err, strings.TrimSpace(stderr.String()))
	}
	return path, nil
}

// dockerCmd runs the docker CLI to completion and returns its stdout; a failure fails the test
// with docker's stderr.
func dockerCmd(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := dockerOutput(Docker(t), stdin, args...)
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	return out
}

func dockerOutput(path string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// BuildSpec is one image build. The build context is a fresh directory holding the Dockerfile and
// Files, nothing else: what is not listed cannot leak into the image or into its hash.
type BuildSpec struct {
	// Repository is the image name without a tag, e.g. "rqlite-krm-test/sidecar". The tag is the
	// content hash.
	Repository string
	// Dockerfile is the Dockerfile's content; it is written to the context as "Dockerfile".
	Dockerfile []byte
	// Files maps a path in the build context (slash-separated, relative) to a file on this
	// machine. Symbolic links are followed; the file's permission bits are kept (a Dockerfile's
	// COPY keeps them too).
	Files map[string]string
	// Args are the --build-arg values.
	Args map[string]string
}

var builds struct {
	mu   sync.Mutex
	byID map[string]*buildOnce
}

type buildOnce struct {
	once sync.Once
	err  error
}

// Build builds the image unless the engine already has its content tag, and returns the tag
// ("<Repository>:<hash>"). Concurrent calls for the same content build once.
func Build(t testing.TB, spec BuildSpec) string {
	t.Helper()
	files, err := readContext(spec.Files)
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	ref, err := buildFiles(Docker(t), spec, files)
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	return ref
}

// buildFiles is Build with the context already read (files built by this package live only in
// memory, so that no temporary binary outlives the test binary).
func buildFiles(path string, spec BuildSpec, files map[string]contextFile) (string, error) {
	if spec.Repository == "" || strings.Contains(spec.Repository, ":") {
		return "", fmt.Errorf("BuildSpec.Repository %q: want a name without a tag", spec.Repository)
	}
	if len(spec.Dockerfile) == 0 {
		return "", errors.New("BuildSpec.Dockerfile is empty")
	}
	ref := spec.Repository + ":" + contentHash(spec.Dockerfile, files, spec.Args)

	builds.mu.Lock()
	if builds.byID == nil {
		builds.byID = map[string]*buildOnce{}
	}
	b := builds.byID[ref]
	if b == nil {
		b = &buildOnce{}
		builds.byID[ref] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.err = build(path, ref, spec, files) })
	return ref, b.err
}

type contextFile struct {
	data []byte
	mode os.FileMode
}

func readContext(src map[string]string) (map[string]contextFile, error) {
	out := make(map[string]contextFile, len(src))
	for rel, host := range src {
		clean := filepath.ToSlash(filepath.Clean(rel))
		if rel == "" || filepath.IsAbs(rel) || clean == "." || strings.HasPrefix(clean, "../") || clean == "Dockerfile" {
			return nil, fmt.Errorf("BuildSpec.Files: context path %q must be relative, inside the context and not the Dockerfile", rel)
		}
		fi, err := os.Stat(host)
		if err != nil {
			return nil, fmt.Errorf("BuildSpec.Files[%q]: %w", rel, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("BuildSpec.Files[%q]: %s is not a regular file", rel, host)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("BuildSpec.Files[%q]: %w", rel, err)
		}
		out[clean] = contextFile{data: data, mode: fi.Mode().Perm()}
	}
	return out, nil
}

// contentHash covers everything that decides the image: the Dockerfile, each context file's path,
// mode and bytes, and the build args. Images a Dockerfile names in FROM are not covered: they
// are themselves content-tagged by Build, so a different base means a different FROM line.
func contentHash(dockerfile []byte, files map[string]contextFile, args map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "Dockerfile %d\n", len(dockerfile))
	h.Write(dockerfile)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		sum := sha256.Sum256(files[p].data)
		fmt.Fprintf(h, "file %q %o %x\n", p, files[p].mode, sum)
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "arg %q %q\n", k, args[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func build(path, ref string, spec BuildSpec, files map[string]contextFile) error {
	if _, err := dockerOutput(path, nil, "image", "inspect", "--format", "{{.Id}}", ref); err == nil {
		return nil // built before, by this or another test run: same content, same image
	}
	dir, err := os.MkdirTemp("", "rqlite-krm-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), spec.Dockerfile, 0o644); err != nil {
		return err
	}
	for rel, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode passes through the umask; the hash promised these bits.
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	args := []string{"build", "--quiet", "-t", ref}
	keys := make([]string, 0, len(spec.Args))
	for k := range spec.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+spec.Args[k])
	}
	args = append(args, dir)
	start := time.Now()
	if _, err := dockerOutput(path, nil, args...); err != nil {
		return fmt.Errorf("building %s: %w", ref, err)
	}
	fmt.Fprintf(os.Stderr, "images: built %s in %s\n", ref, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Info is what `docker image inspect` says about an image, the fields tests read.
type Info struct {
	ID     string `json:"Id"`
	Size   int64  `json:"Size"`
	Config struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"Config"`
}

// Inspect returns the image's configuration as the engine reports it.
func Inspect(t testing.TB, ref string) Info {
	t.Helper()
	var infos []Info
	if err := json.Unmarshal(dockerCmd(t, nil, "image", "inspect", ref), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("images: docker image inspect %s: %v (%d results)", ref, err, len(infos))
	}
	return infos[0]
}

// RunSpec is one `docker run`.
type RunSpec struct {
	// Image is the image reference (a tag Build returned, or a name Tag set).
	Image string
	// Options are docker run options, placed before the image: "--user", "nobody", "--read-only".
	Options []string
	// Args follow the image: the entrypoint's arguments.
	Args []string
	// Stdin is written to the container's stdin (docker run -i); nil attaches none.
	Stdin []byte
	// Timeout kills the container and fails the test; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Result is a finished container.
type Result struct {
	Stdout, Stderr string
	// ExitCode is the container's exit status as the engine recorded it. When the engine could
	// not create the container at all (no such image, a bad option), it is the docker CLI's own
	// status (125) and Stderr holds docker's message.
	ExitCode int
}

// Run runs a container to completion and returns its output and exit status. A non-zero exit is
// not a test failure: several tests are about containers that must fail.
func Run(t testing.TB, spec RunSpec) Result {
	t.Helper()
	c := Start(t, spec)
	return c.Wait(t)
}

// Container is a running `docker run`, from Start.
type Container struct {
	// Name is the container's name, for docker commands of the test's own.
	Name string

	path           string
	cmd            *exec.Cmd
	timeout        time.Duration
	started        time.Time
	stdout, stderr *syncBuffer
	done           chan struct{}
	waitErr        error
	result         *Result
}

// Start starts a container and returns at once; Wait collects it. The container is removed when
// the test ends, whatever happened.
func Start(t testing.TB, spec RunSpec) *Container {
	t.Helper()
	path := Docker(t)
	if spec.Image == "" {
		t.Fatal("images: RunSpec.Image is empty")
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	c := &Container{
		Name: "rqlite-krm-test-" + hex.EncodeToString(rnd[:]),
		path: path, timeout: spec.Timeout,
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}),
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	args := []string{"run", "--name", c.Name, "--label", Label + "=" + labelValue(t.Name())}
	if spec.Stdin != nil {
		args = append(args, "-i")
	}
	args = append(append(append(args, spec.Options...), spec.Image), spec.Args...)
	c.cmd = exec.Command(path, args...)
	if spec.Stdin != nil {
		c.cmd.Stdin = bytes.NewReader(spec.Stdin)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	t.Cleanup(func() {
		if c.cmd.Process != nil && !c.finished() {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		// rm -f also stops a container whose docker CLI was killed.
		_, _ = dockerOutput(path, nil, "rm", "-f", c.Name)
	})
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("images: starting docker run: %v", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	return c
}

// labelValue keeps a test name usable as a label value (docker accepts any string, but a
// newline would make `docker ps` output unreadable).
func labelValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func (c *Container) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Output returns what the container has written so far.
func (c *Container) Output() (stdout, stderr string) { return c.stdout.String(), c.stderr.String() }

// WaitForOutput waits until the container's stdout or stderr contains s, and fails the test if
// the container exits first or timeout passes.
func (c *Container) WaitForOutput(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		stdout, stderr := c.Output()
		if strings.Contains(stdout, s) || strings.Contains(stderr, s) {
			return
		}
		if c.finished() {
			// The last write may have landed between Output and finished.
			stdout, stderr = c.Output()
			if strings.Contains(stdout, s) || strings.Contains(stderr, s) {
				return
			}
			t.Fatalf("images: container %s exited before printing %q\nstdout:\n%s\nstderr:\n%s", c.Name, s, stdout, stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("images: container %s did not print %q within %s\nstdout:\n%s\nstderr:\n%s", c.Name, s, timeout, stdout, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal sends a signal ("TERM", "INT", "KILL") to the container's main process, as the kubelet
// does when it stops a pod.
func (c *Container) Signal(t testing.TB, sig string) {
	t.Helper()
	dockerCmd(t, nil, "kill", "--signal", sig, c.Name)
}

// Wait waits for the container to exit (killing it and failing the test after the spec's
// timeout) and returns its result. It may be called more than once.
func (c *Container) Wait(t testing.TB) Result {
	t.Helper()
	if c.result != nil {
		return *c.result
	}
	select {
	case <-c.done:
	case <-time.After(time.Until(c.started.Add(c.timeout))):
		_, _ = dockerOutput(c.path, nil, "kill", c.Name)
		<-c.done
		stdout, stderr := c.Output()
		t.Fatalf("images: container %s still running after %s; killed\nstdout:\n%s\nstderr:\n%s", c.Name, c.timeout, stdout, stderr)
	}
	r := Result{Stdout: c.stdout.String(), Stderr: c.stderr.String()}
	out, err := dockerOutput(c.path, nil, "container", "inspect", "--format", "{{.State.ExitCode}}", c.Name)
	if err != nil {
		// Never created: the CLI's status and message are all there is.
		var exitErr *exec.ExitError
		if !errors.As(c.waitErr, &exitErr) {
			t.Fatalf("images: docker run: %v\n%s", c.waitErr, r.Stderr)
		}
		r.ExitCode = exitErr.ExitCode()
	} else if r.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
		t.Fatalf("images: exit code of %s: %q", c.Name, out)
	}
	c.result = &r
	return r
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var tagLocks struct {
	mu    sync.Mutex
	files map[string]*os.File
}

// Tag gives an image a second name, such as the published ghcr.io/rqlite/rqlite-krm:<version>
// that specs and Kptfiles name, for tools that run images by name.
//
// A name is global to the engine, and test runs of other worktrees may want it for different
// content. Tag therefore holds an exclusive lock (a file in os.TempDir() named after the name)
// from its first call until this test binary exits, and other test binaries wait for it; it
// says so on stderr while it waits. When the test ends Tag checks that the name still points at
// the image, which catches a `make image` run meanwhile.
func Tag(t testing.TB, ref, name string) {
	t.Helper()
	lockName(t, name)
	dockerCmd(t, nil, "tag", ref, name)
	want := Inspect(t, ref).ID
	t.Cleanup(func() {
		out, err := dockerOutput(Docker(t), nil, "image", "inspect", "--format", "{{.Id}}", name)
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("images: %s was re-tagged while the test used it (now %q, want %s: %v): another build or `make image` ran meanwhile; rerun", name, got, want, err)
		}
	})
}

func lockName(t testing.TB, name string) {
	t.Helper()
	tagLocks.mu.Lock()
	defer tagLocks.mu.Unlock()
	if tagLocks.files[name] != nil {
		return
	}
	sum := sha256.Sum256([]byte(name))
	path := filepath.Join(os.TempDir(), "rqlite-krm-image-tag-"+hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("images: lock for %s: %v", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "images: waiting for another test run that uses %s (lock %s)\n", name, path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatalf("images: lock for %s: %v", name, err)
		}
	}
	if tagLocks.files == nil {
		tagLocks.files = map[string]*os.File{}
	}
	// Never closed: the lock lasts as long as this process.
	tagLocks.files[name] = f
}

// Entry is one file of an image's filesystem.
type Entry struct {
	Path     string // without a leading slash: "usr/local/bin/rqlite-fn"
	Mode     os.FileMode
	UID, GID int
	Size     int64
	Link     string // symbolic or hard link target
}

// Files lists every file and directory in the image's layers (`docker save`), in layer order. A
// container adds nothing to this list: it is what the image ships.
func Files(t testing.TB, ref string) []Entry {
	t.Helper()
	entries, err := listSaved(dockerCmd(t, nil, "save", ref))
	if err != nil {
		t.Fatalf("images: docker save %s: %v", ref, err)
	}
	return entries
}

// Save writes the images to path as `docker save` does (a docker-archive tarball with each
// reference's name in its manifest), for loading into another runtime, e.g. `ctr -n k8s.io
// images import`.
func Save(t testing.TB, path string, refs ...string) {
	t.Helper()
	if len(refs) == 0 {
		t.Fatal("images: Save needs at least one image")
	}
	dockerCmd(t, nil, append([]string{"save", "-o", path}, refs...)...)
}
