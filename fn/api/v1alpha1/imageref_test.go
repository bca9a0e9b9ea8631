package v1alpha1

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// parseImageRef must accept and reject exactly what github.com/distribution/reference (the
// library it replaced in the binary) does, and find the same tag and digest.
func TestParseImageRefMatchesDistribution(t *testing.T) {
	sha := "sha256:" + strings.Repeat("ab", 32)
	refs := []string{
		"", "rqlite/rqlite", "rqlite/rqlite:9.1.3", "docker.io/rqlite/rqlite:9.1.3", "rqlite:9", "rqlite",
		"rqlite/rqlite:latest", "rqlite/RQLITE:9", "RQLITE/rqlite:9", "Rqlite", "index.docker.io/rqlite/rqlite:1",
		"ghcr.io/org/img@" + sha, "ghcr.io/org/img:1.0@" + sha, "img@" + sha, "img@sha256:" + strings.Repeat("AB", 32),
		"img@sha256:abc", "img@sha512:" + strings.Repeat("a", 128), "img@sha384:" + strings.Repeat("a", 96),
		"img@md5:" + strings.Repeat("a", 32), "img@SHA256:" + strings.Repeat("a", 64), "img@sha256:" + strings.Repeat("a", 65),
		"img@@" + sha, "img@" + sha + "@" + sha,
		"localhost/img:1", "localhost:5000/img:1", "registry:5000/a/b/c:v1", "10.0.0.1:5000/img:1", "[::1]:5000/img:1",
		"[fe80::1]/img:1", "[]/img:1", "[::1/img", "reg.example.com:/img:1", "reg.example.com:x/img:1", "-reg.io/img:1",
		"reg-.io/img:1", "Reg.Example.COM/img:1", "reg.io/Img:1", "reg.io/img:TAG_1.2-x", "img:.bad", "img:-bad",
		"img:" + strings.Repeat("t", 128), "img:" + strings.Repeat("t", 129), "img:", ":tag", "img:a:b", "img:a/b",
		"a/b/c/d/e/f", "a//b", "/a", "a/", "a..b", "a._b", "a__b", "a___b", "a--b", "a-b", "a.b", "a_b", "-a", "a-",
		"a b", "a\tb", "ünï/code:1", strings.Repeat("ab", 32), strings.Repeat("AB", 32), strings.Repeat("ab", 32) + ":1",
		"reg.io/" + strings.Repeat("a", 250) + ":1", "reg.io/" + strings.Repeat("a", 248) + ":1",
		strings.Repeat("a", 300), "docker.io/library/busybox:1.36", "busybox:1.36@" + sha,
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("aZ09:./@-_[]")
	for range 3000 {
		b := make([]byte, 1+rng.IntN(14))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		refs = append(refs, string(b))
	}
	for _, s := range refs {
		ours, err := parseImageRef(s)
		theirs, theirErr := reference.ParseNormalizedNamed(s)
		if (err == nil) != (theirErr == nil) {
			t.Errorf("%q: our error %v, distribution/reference's %v", s, err, theirErr)
			continue
		}
		if err != nil {
			continue
		}
		var tag, digest string
		if tg, ok := theirs.(reference.Tagged); ok {
			tag = tg.Tag()
		}
		if dg, ok := theirs.(reference.Digested); ok {
			digest = dg.Digest().String()
		}
		if ours.tag != tag || ours.digest != digest {
			t.Errorf("%q: tag %q digest %q, distribution/reference: %q %q", s, ours.tag, ours.digest, tag, digest)
		}
	}
}
