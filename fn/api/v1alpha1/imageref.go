package v1alpha1

import (
	"errors"
	"strings"
)

// imageRef is what validateImage needs to know about an image reference.
type imageRef struct {
	tag    string
	digest string
}

// parseImageRef accepts and rejects what github.com/distribution/reference's ParseNormalizedNamed
// does (the grammar Docker and containerd use: [domain[:port]/]path[:tag][@digest], a path without
// a domain meaning docker.io). It replaces that library in the binary: it compiled a dozen regular
// expressions at start-up (0.73 ms, with go-digest's, of every run of the function) for the one
// field that needs them. TestParseImageRefMatchesDistribution compares the two.
func parseImageRef(s string) (imageRef, error) {
	if len(s) == 64 && isLowerHex(s) {
		return imageRef{}, errors.New("a 64-character hexadecimal string is an image ID, not a repository name")
	}
	// Docker's normalisation: the first path element is a registry only if it looks like a host.
	domain, rest := "docker.io", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		first := s[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, rest = first, s[i+1:]
		}
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	remote, _, _ := strings.Cut(rest, ":")
	if strings.ToLower(remote) != remote {
		return imageRef{}, errors.New("repository name must be lowercase")
	}

	full := domain + "/" + rest
	name, digest, hasDigest := strings.Cut(full, "@")
	var ref imageRef
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, ref.tag = name[:i], name[i+1:]
		if !validTag(ref.tag) {
			return imageRef{}, errors.New("invalid tag: 1 to 128 letters, digits, _ . and -, not starting with . or -")
		}
	}
	path, ok := splitName(name)
	if !ok {
		if _, ok := splitName(strings.ToLower(name)); ok {
			return imageRef{}, errors.New("repository name must be lowercase")
		}
		return imageRef{}, errors.New("invalid reference format")
	}
	if len(path) > 255 {
		return imageRef{}, errors.New("repository name must not be more than 255 characters")
	}
	if hasDigest {
		if err := validDigest(digest); err != nil {
			return imageRef{}, err
		}
		ref.digest = digest
	}
	return ref, nil
}

// splitName checks [host[:port]/]component[/component...] and returns the path: what follows the
// host if the first element is a valid host, else the whole name.
func splitName(name string) (path string, ok bool) {
	if host, path, found := strings.Cut(name, "/"); found && validHostPort(host) && validPath(path) {
		return path, true
	}
	return name, validPath(name)
}

// validPath: components of lowercase letters and digits joined by ".", "_", "__" or runs of "-",
// separated by "/".
func validPath(p string) bool {
	for c := range strings.SplitSeq(p, "/") {
		if !validComponent(c) {
			return false
		}
	}
	return true
}

func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isLowerAlnum(c[i]) {
			i++
			continue
		}
		// A separator between two alphanumerics.
		j := i
		for j < len(c) && !isLowerAlnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == "." || sep == "_" || sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

// validHostPort: a DNS name (labels of letters, digits and inner hyphens) or a bracketed IPv6
// address, then an optional numeric port.
func validHostPort(h string) bool {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for i := 1; i < end; i++ {
			if c := h[i]; !isHex(c) && c != ':' {
				return false
			}
		}
		return validPort(h[end+1:])
	}
	host, port, hasPort := strings.Cut(h, ":")
	if hasPort && !validPort(":"+port) {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// validPort: "" or ":" and digits.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != ':' || len(p) == 1 {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// validTag: a word character, then up to 127 word characters, dots and hyphens.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validDigest: algorithm:hex, where the algorithm must be one that registries verify (sha256,
// sha384, sha512) and the hex its exact length in lowercase.
func validDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || !validAlgorithm(alg) || len(hex) < 32 {
		return errors.New("invalid digest format")
	}
	for i := 0; i < len(hex); i++ {
		if !isHex(hex[i]) {
			return errors.New("invalid digest format")
		}
	}
	size := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	switch {
	case size == 0:
		return errors.New("unsupported digest algorithm " + alg)
	case len(hex) != size:
		return errors.New("invalid digest length")
	case !isLowerHex(hex):
		return errors.New("invalid digest format: the hex must be lowercase")
	}
	return nil
}

// validAlgorithm: letter-led components of letters and digits joined by + . _ or -.
func validAlgorithm(a string) bool {
	if a == "" {
		return false
	}
	start := true
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case start:
			if !isLetter(c) {
				return false
			}
			start = false
		case c == '+' || c == '.' || c == '_' || c == '-':
			start = true
		case !isAlnum(c):
			return false
		}
	}
	return !start
}

func isLetter(c byte) bool     { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool      { return isLetter(c) || c >= '0' && c <= '9' }
func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isHex(c byte) bool        { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
