package testenv

import "testing"

// The names containerd gives images imported from `docker save` must be what ImportImages
// tags from; a wrong guess leaves the rendered names untagged and the kubelet trying to pull.
func TestNormalizeRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rqlite-krm-test/rqlite:abc", "docker.io/rqlite-krm-test/rqlite:abc"},
		{"busybox:1", "docker.io/library/busybox:1"},
		{"ghcr.io/rqlite/rqlite-krm:v0.1.0", "ghcr.io/rqlite/rqlite-krm:v0.1.0"},
		{"localhost/x:1", "localhost/x:1"},
		{"registry:5000/x:1", "registry:5000/x:1"},
	} {
		if got := normalizeRef(tc.in); got != tc.want {
			t.Errorf("normalizeRef(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
