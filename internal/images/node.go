package images

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// The images of the tests' real node (testenv.Node), built with the Docker Engine like every
// image here and then loaded into the node's own containerd: nothing is pulled, by the engine or
// by the node.

// pauseDockerfile: the sandbox image, the project's static pause program (hack/tools/pause).
const pauseDockerfile = `FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
`

// rqliteDockerfile lays the image out like the official rqlite image where the rendered
// manifests depend on it: rqlited at /bin/rqlited and a BusyBox /bin/sh (the official image is
// Alpine, whose sh is BusyBox) for the peers init script, with BusyBox's applets (rm, cp,
// mkdir, id …) beside it. rqlited is the project's pinned v8.43.4, statically linked; the
// image is loaded under the rendered name docker.io/rqlite/rqlite:9.1.3 (v9 carries a licence
// notice that is not open source and is not built here; its flags are identical to v8.43.4's).
const rqliteDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY rqlited /bin/rqlited
ENTRYPOINT ["/bin/rqlited"]
`

// RqliteImageName is the image the renders name for rqlited (the spec's default).
const RqliteImageName = v1alpha1.DefaultImage

// Pause builds the sandbox image and returns its content tag.
func Pause(t testing.TB) string {
	t.Helper()
	return Build(t, BuildSpec{Repository: "rqlite-krm-test/pause", Dockerfile: []byte(pauseDockerfile),
		Files: map[string]string{"pause": testenv.Tool(t, "pause")}})
}

// Rqlite builds the rqlite image and returns its content tag.
func Rqlite(t testing.TB) string {
	t.Helper()
	return Build(t, BuildSpec{Repository: "rqlite-krm-test/rqlite", Dockerfile: []byte(rqliteDockerfile),
		Files: map[string]string{"busybox": testenv.Tool(t, "busybox"), "rqlited": testenv.Tool(t, "rqlited-static")}})
}

// LoadNode builds the pause, rqlite and function images and loads them into the node's
// containerd under the names the node and the rendered manifests use: testenv.PauseImage,
// RqliteImageName and the function image's published name (the shrink Job's image).
func LoadNode(t testing.TB, n *testenv.Node) {
	t.Helper()
	fn := Function(t)
	names := map[string][]string{
		Pause(t):  {testenv.PauseImage},
		Rqlite(t): {RqliteImageName},
		fn.Ref:    {fn.Name},
	}
	refs := make([]string, 0, len(names))
	for ref := range names {
		refs = append(refs, ref)
	}
	archive := filepath.Join(t.TempDir(), "node-images.tar")
	Save(t, archive, refs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.ImportImages(ctx, archive, names); err != nil {
		t.Fatalf("images: load into the node: %v", err)
	}
}
