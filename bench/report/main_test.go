package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageSizeIsAsserted: the image's size is a target like the binary's, but deterministic, so
// a run over the limit fails even without -strict; the container table reports both sides of
// each alternating pair and the engine's cost.
func TestImageSizeIsAsserted(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "raw.txt")
	lines := "BenchmarkContainer/noop-2 1 100 ns/op 4000000 binary-ns/op 600000000 docker-ns/op\n" +
		"BenchmarkContainer/kustomize/three-node-2 1 100 ns/op 80000000 exec-ns/op 700000000 container-ns/op\n"
	if err := os.WriteFile(raw, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string) (int64, error)) { inspectImageSize = f }(inspectImageSize)
	cases := []struct {
		size   int64
		status string
		hard   int
	}{
		{size: 13_836_599, status: "| met |", hard: 0},
		{size: 20_000_000, status: "| met |", hard: 0},
		{size: 20_000_001, status: "| **missed** |", hard: 1},
	}
	for _, c := range cases {
		inspectImageSize = func(string) (int64, error) { return c.size, nil }
		md, _, hard, err := build(options{raw: raw, image: "ghcr.io/rqlite/rqlite-krm:v0.1.0"})
		if err != nil {
			t.Fatal(err)
		}
		var row string
		for _, l := range strings.Split(md, "\n") {
			if strings.Contains(l, "function image size") {
				row = l
			}
		}
		if !strings.Contains(row, c.status) || !strings.Contains(row, "≤ 20 MB") || hard != c.hard {
			t.Errorf("size %d: row %q, hard misses %d; want %s and %d", c.size, row, hard, c.status, c.hard)
		}
		for _, w := range []string{"| binary 4.00 ms", "docker run 600.00 ms", "| 596.00 ms | ×150.0 |", "exec form 80.00 ms", "container form 700.00 ms"} {
			if !strings.Contains(md, w) {
				t.Errorf("the container table lacks %q:\n%s", w, md)
			}
		}
	}
}
