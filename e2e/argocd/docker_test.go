package argocd

// A minimal Docker helper for this package only: run the docker CLI, fail with a pointer when
// there is no engine. It is meant to be folded into the shared image-building helper
// (internal/testenv) once that exists.

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

var dockerCheck struct {
	once sync.Once
	path string
	err  error
}

// dockerPath returns the docker CLI once the engine has answered `docker version`.
func dockerPath() (string, error) {
	dockerCheck.once.Do(func() {
		p, err := exec.LookPath("docker")
		if err != nil {
			dockerCheck.err = errors.New("docker is not on PATH: these tests build the Argo CD sidecar image and run it in a Docker Engine (Debian: apt-get install docker.io, then start dockerd)")
			return
		}
		out, err := exec.Command(p, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err != nil {
			dockerCheck.err = fmt.Errorf("the Docker engine does not answer (`docker version`: %v): start dockerd; these tests build and run the Argo CD sidecar image in it\n%s", err, out)
			return
		}
		dockerCheck.path = p
	})
	return dockerCheck.path, dockerCheck.err
}

// dockerOut runs the docker CLI and returns its stdout; an error carries stderr.
func dockerOut(args ...string) (string, error) {
	p, err := dockerPath()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(p, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// docker is dockerOut for tests: any failure is fatal.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := dockerOut(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
