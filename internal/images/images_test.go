package images

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestContentHash: the tag changes with everything that decides the image and with nothing else,
// so that a rerun reuses an image and a change never runs a stale one.
func TestContentHash(t *testing.T) {
	base := func() (string, map[string]contextFile, map[string]string) {
		return "FROM scratch\nCOPY a /a\n", map[string]contextFile{"a": {data: []byte("x"), mode: 0o644}, "b/c": {data: []byte("y"), mode: 0o755}}, map[string]string{"VERSION": "v1"}
	}
	df, files, args := base()
	ref := contentHash([]byte(df), files, args)
	cases := []struct {
		name   string
		change func(df *string, files map[string]contextFile, args map[string]string)
		same   bool
	}{
		{"nothing", func(*string, map[string]contextFile, map[string]string) {}, true},
		{"Dockerfile", func(df *string, _ map[string]contextFile, _ map[string]string) { *df += "USER 1\n" }, false},
		{"file content", func(_ *string, f map[string]contextFile, _ map[string]string) {
			f["a"] = contextFile{data: []byte("z"), mode: 0o644}
		}, false},
		{"file mode", func(_ *string, f map[string]contextFile, _ map[string]string) {
			f["a"] = contextFile{data: []byte("x"), mode: 0o755}
		}, false},
		{"file path", func(_ *string, f map[string]contextFile, _ map[string]string) { f["d"] = f["a"]; delete(f, "a") }, false},
		{"extra file", func(_ *string, f map[string]contextFile, _ map[string]string) { f["e"] = contextFile{} }, false},
		{"build arg", func(_ *string, _ map[string]contextFile, a map[string]string) { a["VERSION"] = "v2" }, false},
		{"content moved between files", func(_ *string, f map[string]contextFile, _ map[string]string) {
			f["a"], f["b/c"] = contextFile{data: []byte("xy"), mode: 0o644}, contextFile{data: nil, mode: 0o755}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			df, files, args := base()
			c.change(&df, files, args)
			if got := contentHash([]byte(df), files, args); (got == ref) != c.same {
				t.Errorf("hash %s, base %s: same = %v, want %v", got, ref, got == ref, c.same)
			}
		})
	}
}

func TestCopySources(t *testing.T) {
	cases := []struct {
		dockerfile string
		want       []string
	}{
		{"FROM scratch\nCOPY --chown=0:0 image/passwd /etc/passwd\nCOPY bin/rqlite-fn /usr/local/bin/\n", []string{"image/passwd", "bin/rqlite-fn"}},
		{"COPY a b /dir/\nadd c /c\n", []string{"a", "b", "c"}},
		{"FROM x AS fn\nFROM scratch\nCOPY --from=fn /usr/local/bin/rqlite-fn /x\n", nil},
		{"# COPY comment /x\nRUN echo COPY a b\n", nil},
	}
	for _, c := range cases {
		if got := CopySources([]byte(c.dockerfile)); !slices.Equal(got, c.want) {
			t.Errorf("CopySources(%q) = %q, want %q", c.dockerfile, got, c.want)
		}
	}
}

func TestReadContextRefuses(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"", "/abs", "../up", "a/../../up", ".", "Dockerfile"} {
		if _, err := readContext(map[string]string{rel: f}); err == nil {
			t.Errorf("context path %q accepted", rel)
		}
	}
	if _, err := readContext(map[string]string{"d": dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as a file: %v", err)
	}
	got, err := readContext(map[string]string{"./x/../y": f})
	if err != nil || got["y"].mode != 0o600 || string(got["y"].data) != "x" {
		t.Errorf("readContext = %v, %v", got, err)
	}
}

// TestListSaved reads an archive laid out as `docker save` writes it.
func TestListSaved(t *testing.T) {
	layer := tarOf(t, []tarEntry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: "x:x"},
		{name: "usr/local/bin/rqlite-fn", mode: 0o755, data: "elf"},
	})
	archive := tarOf(t, []tarEntry{
		{name: "manifest.json", mode: 0o644, data: `[{"Layers":["abc/layer.tar"]}]`},
		{name: "abc/layer.tar", mode: 0o644, data: string(layer)},
	})
	entries, err := listSaved(archive)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Path+" "+e.Mode.String())
	}
	want := []string{"etc drwxr-xr-x", "etc/passwd -rw-r--r--", "usr/local/bin/rqlite-fn -rwxr-xr-x"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if _, err := listSaved(tarOf(t, nil)); err == nil {
		t.Error("an archive without manifest.json was accepted")
	}
}

type tarEntry struct {
	name, data string
	mode       int64
	dir        bool
}

func tarOf(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadMakefile: the release build's settings as the Makefile writes them, $(VERSION) expanded.
func TestReadMakefile(t *testing.T) {
	mk, err := ReadMakefile()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mk.Version, "v") || mk.Image != "ghcr.io/rqlite/rqlite-krm:"+mk.Version ||
		!strings.Contains(mk.LDFlags, "-X github.com/rqlite/rqlite-krm/fn/cli.Version="+mk.Version) {
		t.Errorf("ReadMakefile = %+v", mk)
	}
}
