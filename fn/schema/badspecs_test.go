package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/internal/testenv"
)

// badSpec is one case of the hostile-input table (testdata/bad, run in render and KRM mode by
// fn/cli's TestBadInputs) that is one RqliteSpec document: the cases the schema can be asked
// about. paths are where the function reports its errors.
type badSpec struct {
	name, doc string
	paths     []string
}

// readBadSpecs reads the single-spec cases of the table: the other cases (empty inputs, several
// specs, ResourceLists) are about the function's input as a whole, which no schema of one spec
// sees.
func readBadSpecs(t *testing.T) []badSpec {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "testdata", "bad", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile-input table under testdata/bad (%v)", err)
	}
	var out []badSpec
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !oneSpec(string(b)) {
			continue
		}
		bs := badSpec{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), doc: string(b)}
		s, ps := v1alpha1.Decode(b)
		if s != nil {
			ps = append(ps, v1alpha1.Validate(v1alpha1.Default(s))...)
		}
		for _, p := range ps {
			if !p.Warning {
				bs.paths = append(bs.paths, p.Path)
			}
		}
		out = append(out, bs)
	}
	return out
}

// oneSpec: one document (no "---" between two) that is not a ResourceList.
func oneSpec(doc string) bool {
	docs := 0
	content := false
	for _, l := range strings.Split(doc, "\n") {
		if l == "kind: ResourceList" {
			return false
		}
		if strings.TrimSpace(l) == "---" {
			content = false
			continue
		}
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") && !content {
			content = true
			docs++
		}
	}
	return docs == 1
}

// Schema verdicts on the single-spec cases of testdata/bad.
const (
	rejected   = "rejected by the schema"
	unparsable = "rejected before the schema: not YAML"
	accepted   = "accepted: the schema cannot express the rule"
	// The API server checks the metadata of every object itself (label syntax, annotation sizes);
	// the schema leaves metadata to it.
	objectMeta = "accepted by the schema, rejected by the API server's own metadata checks"
)

// schemaVerdicts classifies every single-spec case of testdata/bad. A new case fails the tests until it
// is classified here, so the list stays exact.
var schemaVerdicts = map[string]string{
	"unknown-top-level-spec-field":            rejected, // additionalProperties: false
	"unknown-nested-field-with-suggestion":    rejected,
	"unknown-metadata-field":                  rejected,
	"unknown-field-deep-in-a-kubernetes-type": rejected,
	"wrong-type":                     rejected,
	"fractional-count":               rejected, // type integer
	"list-where-object-expected":     rejected,
	"string-where-bool-expected":     rejected,
	"zero-voters":                    rejected, // minimum 1
	"negative-voters":                rejected,
	"absurd-voters":                  rejected, // maximum 99
	"read-only-without-voters":       rejected,
	"negative-read-only":             rejected, // minimum 0
	"name-not-dns":                   rejected, // pattern
	"name-starts-with-digit":         rejected,
	"name-too-long":                  rejected, // maxLength 40
	"missing-name":                   rejected, // required
	"bad-namespace":                  rejected,
	"wrong-apiversion":               rejected, // enum
	"wrong-kind":                     rejected,
	"bad-storage-quantity":           rejected, // quantity pattern
	"zero-storage":                   accepted, // "0" is a well-formed quantity; positivity is a value check
	"bad-resource-quantity":          rejected,
	"request-above-limit":            accepted, // compares two fields
	"hpa-min-above-max":              accepted, // compares two fields
	"guide-naming-app-label":         accepted, // a label key reserved only under one naming
	"guide-naming-without-namespace": accepted, // a field required only under one naming
	"hpa-min-zero":                   rejected,
	"hpa-target-not-a-percentage":    rejected, // maximum 100
	"replicas-and-autoscaling":       rejected, // not: required both
	"managed-flag":                   rejected, // pattern: only the allowed flags
	"non-voter-flag-on-voters":       rejected,
	"flag-not-valid-in-v10":          rejected,
	"arg-not-a-flag":                 accepted, // could be the value of a flag before it: Validate sees the neighbours
	"unknown-flag":                   rejected,
	"managed-tls-flag":               rejected,
	"newline-in-an-arg":              rejected, // no control characters
	"flag-missing-its-value":         accepted, // a value may follow as the next item
	"floating-image":                 accepted, // image references are parsed, not matched
	"untagged-image":                 accepted,
	"bad-image":                      accepted,
	"bad-pull-policy":                rejected, // enum
	"bad-service-type":               rejected,
	"source-ranges-without-lb":       accepted, // depends on service.type
	"bad-retention":                  rejected,
	"bad-cluster-domain":             rejected, // pattern
	"reserved-volume-name":           accepted, // names the renderer uses
	"mount-of-unknown-volume":        accepted, // a cross-reference
	"mount-over-data-dir":            accepted, // paths the renderer uses
	"reserved-env":                   accepted,
	"selector-label":                 accepted, // label keys the renderer uses
	"probe-zero-period":              rejected, // minimum 1
	"bad-anti-affinity-mode":         rejected, // enum
	"bad-cidr":                       accepted, // CIDR syntax
	"empty-peer":                     accepted, // an object with no field set
	// Pod Security rules on the user's own containers and container names are Validate's.
	"privileged-sidecar":               accepted,
	"init-container-adds-a-capability": accepted,
	"sidecar-named-rqlite":             accepted,
	"sidecar-without-image":            accepted,
	"not-an-object":                    rejected, // type object
	"not-yaml":                         unparsable,

	// The image reference grammar (digest, registry port, case, lengths) is parsed, not matched.
	"image-with-an-uppercase-path":    accepted,
	"image-digest-too-short":          accepted,
	"image-digest-in-uppercase-hex":   accepted,
	"image-name-too-long":             accepted,
	"image-tag-too-long":              accepted,
	"image-registry-port-without-tag": accepted,
	"image-id-instead-of-a-name":      accepted,

	// YAML the conversion to JSON hides: the last of two keys wins, aliases and merge keys are
	// expanded. What the schema (and the API server) then see is a valid spec.
	"duplicate-key-flow":      accepted,
	"duplicate-key-block":     accepted,
	"duplicate-key-quoted":    accepted,
	"duplicate-key-number":    accepted,
	"duplicate-key-metadata":  accepted,
	"duplicate-key-deep":      accepted,
	"duplicate-key-top-level": accepted,
	"alias":                   accepted,
	"merge-key":               accepted,
	"billion-laughs":          unparsable, // the YAML library's own bound on expansion

	"label-value-too-long":      objectMeta,
	"label-key-prefix-too-long": objectMeta,
}
