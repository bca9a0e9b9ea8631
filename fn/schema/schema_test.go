package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/internal/golden"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	published "github.com/rqlite/rqlite-krm/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// TestGoldenSchemaFiles fails when schema/ is stale; -update (make golden) or `go generate
// ./fn/schema` rewrites it.
func TestGoldenSchemaFiles(t *testing.T) {
	files, err := Files()
	require.NoError(t, err)
	root := testenv.RepoRoot(t)
	for name, b := range files {
		golden.Assert(t, filepath.Join(root, "schema", name), b)
	}
}

// TestSchemaCommand: the binary prints the committed files byte for byte.
func TestSchemaCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []byte
	}{
		{[]string{"schema"}, published.JSON},
		{[]string{"schema", "--format", "json"}, published.JSON},
		{[]string{"schema", "--format=openapi"}, published.OpenAPI},
	} {
		var out, errb bytes.Buffer
		require.Equal(t, 0, cli.Main(tc.args, nil, &out, &errb), errb.String())
		assert.Equal(t, string(tc.want), out.String(), "%v", tc.args)
	}
	var out, errb bytes.Buffer
	assert.Equal(t, 2, cli.Main([]string{"schema", "--format", "xml"}, nil, &out, &errb))
	assert.Contains(t, errb.String(), "json or openapi")

	var js map[string]any
	require.NoError(t, json.Unmarshal(published.JSON, &js))
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", js["$schema"])
	var oa map[string]any
	require.NoError(t, yaml.Unmarshal(published.OpenAPI, &oa))
	assert.NotContains(t, string(published.OpenAPI), "$ref", "a structural schema has no references")
	assert.NotContains(t, string(published.OpenAPI), "additionalProperties: false")
	assert.NotContains(t, string(published.OpenAPI), "x-kubernetes-preserve-unknown-fields")
}

func TestDescriptionsFromDocComments(t *testing.T) {
	g, err := FromSource()
	require.NoError(t, err)
	js, err := g.JSONSchema()
	require.NoError(t, err)
	var s struct {
		Defs map[string]struct {
			Description string                    `json:"description"`
			Properties  map[string]map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(js, &s))
	voters := s.Defs["VoterPool"].Properties["replicas"]
	assert.Equal(t, "Replicas is the number of voters; odd numbers tolerate the most failures per node.", voters["description"])
	assert.EqualValues(t, 3, voters["default"])
	assert.EqualValues(t, 1, voters["minimum"])
	assert.EqualValues(t, v1alpha1.MaxVoters, voters["maximum"])
	assert.Contains(t, s.Defs["ClusterSpec"].Description, "desired state")
	assert.Contains(t, s.Defs["io.k8s.api.core.v1.Toleration"].Properties["effect"]["description"], "the taint effect to match")
	assert.Equal(t, []any{"preferred", "required", "none", nil}, s.Defs["Scheduling"].Properties["antiAffinity"]["enum"],
		"enums of the API's own string types come from their typed constants")
}

// TestPatterns checks the regular expressions against the Go functions they stand for.
func TestPatterns(t *testing.T) {
	words := []string{"rqlite", "a", "a1", "1a", "ab-c", "a-", "-a", "a.b", "a..b", ".a", "My_DB", "UPPER", "a_b",
		"cluster.local", "k8s.example.internal", "-bad-", "fast-ssd", "x.y.z-1", "é", "a b", ""}
	for _, w := range words {
		assert.Equal(t, len(validation.IsDNS1035Label(w)) == 0 && w != "", regexp.MustCompile(DNS1035Label).MatchString(w) && len(w) <= 63, "DNS-1035 %q", w)
		assert.Equal(t, len(validation.IsDNS1123Label(w)) == 0 && w != "", regexp.MustCompile(DNS1123Label).MatchString(w) && len(w) <= 63, "DNS-1123 label %q", w)
		assert.Equal(t, len(validation.IsDNS1123Subdomain(w)) == 0 && w != "", regexp.MustCompile(DNS1123Subdomain).MatchString(w) && len(w) <= 253, "DNS-1123 subdomain %q", w)
	}
	// Not in the corpus: a bare suffix ("Gi"), which ParseQuantity reads as zero; the pattern, the one
	// Kubernetes uses for CRDs, refuses it, and no one means 0 by it.
	for _, q := range []string{"10Gi", "1", "0", "500m", "1.5", ".5", "1e3", "1E-3", "+1", "-1", "1Ki", "1k", "1K", "ten", "1GiB", "1 Gi",
		"", "1.", "1e", "0x10", "1.5.5", "5Mi", "100n", "1u", "12P", "3Ei"} {
		_, err := resource.ParseQuantity(q)
		assert.Equal(t, err == nil, regexp.MustCompile(Quantity).MatchString(q), "quantity %q", q)
	}
}

// constraintProbes place one value into a spec so Validate can judge it: VALUE is replaced, and
// path is where Validate reports the problem. Every constraint needs a probe, so a new one is
// checked against Validate from the start.
var constraintProbes = map[FieldKey]struct{ doc, path string }{
	key[v1alpha1.ClusterSpec]("imagePullPolicy"):                {"spec:\n  imagePullPolicy: VALUE\n", "spec.imagePullPolicy"},
	key[v1alpha1.ClusterSpec]("clusterDomain"):                  {"spec:\n  clusterDomain: VALUE\n", "spec.clusterDomain"},
	key[v1alpha1.VoterPool]("replicas"):                         {"spec:\n  voters:\n    replicas: VALUE\n", "spec.voters.replicas"},
	key[v1alpha1.ReadOnlyPool]("replicas"):                      {"spec:\n  readOnly:\n    replicas: VALUE\n", "spec.readOnly.replicas"},
	key[v1alpha1.Autoscaling]("minReplicas"):                    {"spec:\n  readOnly:\n    autoscaling:\n      minReplicas: VALUE\n      maxReplicas: 1000\n", "spec.readOnly.autoscaling.minReplicas"},
	key[v1alpha1.Autoscaling]("maxReplicas"):                    {"spec:\n  readOnly:\n    autoscaling:\n      minReplicas: 1\n      maxReplicas: VALUE\n", "spec.readOnly.autoscaling.maxReplicas"},
	key[v1alpha1.Autoscaling]("targetCPUUtilizationPercentage"): {"spec:\n  readOnly:\n    autoscaling:\n      minReplicas: 1\n      maxReplicas: 2\n      targetCPUUtilizationPercentage: VALUE\n", "spec.readOnly.autoscaling.targetCPUUtilizationPercentage"},
	key[v1alpha1.Pool]("extraArgs"):                             {"spec:\n  voters:\n    extraArgs: [-http-allow-origin, VALUE, x]\n", "spec.voters.extraArgs[1]"},
	key[v1alpha1.ProbeOverride]("initialDelaySeconds"):          {"spec:\n  voters:\n    probes:\n      startup:\n        initialDelaySeconds: VALUE\n", "spec.voters.probes.startup.initialDelaySeconds"},
	key[v1alpha1.ProbeOverride]("periodSeconds"):                {"spec:\n  readOnly:\n    probes:\n      liveness:\n        periodSeconds: VALUE\n", "spec.readOnly.probes.liveness.periodSeconds"},
	key[v1alpha1.ProbeOverride]("timeoutSeconds"):               {"spec:\n  voters:\n    probes:\n      readiness:\n        timeoutSeconds: VALUE\n", "spec.voters.probes.readiness.timeoutSeconds"},
	key[v1alpha1.ProbeOverride]("failureThreshold"):             {"spec:\n  voters:\n    probes:\n      readiness:\n        failureThreshold: VALUE\n", "spec.voters.probes.readiness.failureThreshold"},
	key[v1alpha1.ProbeOverride]("successThreshold"):             {"spec:\n  voters:\n    probes:\n      readiness:\n        successThreshold: VALUE\n", "spec.voters.probes.readiness.successThreshold"},
	key[v1alpha1.Storage]("storageClassName"):                   {"spec:\n  storage:\n    storageClassName: VALUE\n", "spec.storage.storageClassName"},
	key[v1alpha1.RetentionPolicy]("whenDeleted"):                {"spec:\n  storage:\n    retentionPolicy:\n      whenDeleted: VALUE\n", "spec.storage.retentionPolicy.whenDeleted"},
	key[v1alpha1.RetentionPolicy]("whenScaled"):                 {"spec:\n  storage:\n    retentionPolicy:\n      whenScaled: VALUE\n", "spec.storage.retentionPolicy.whenScaled"},
	key[v1alpha1.ServiceSpec]("type"):                           {"spec:\n  service:\n    type: VALUE\n", "spec.service.type"},
	key[v1alpha1.IssuerRef]("kind"):                             {"spec:\n  tls:\n    node:\n      certManager:\n        issuerRef:\n          name: ca\n          kind: VALUE\n", "spec.tls.node.certManager.issuerRef.kind"},
	key[corev1.TopologySpreadConstraint]("maxSkew"):             {"spec:\n  voters:\n    scheduling:\n      topologySpreadConstraints:\n      - maxSkew: VALUE\n        topologyKey: zone\n        whenUnsatisfiable: DoNotSchedule\n", "spec.voters.scheduling.topologySpreadConstraints[0].maxSkew"},
	key[corev1.TopologySpreadConstraint]("topologyKey"):         {"spec:\n  voters:\n    scheduling:\n      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: VALUE\n        whenUnsatisfiable: DoNotSchedule\n", "spec.voters.scheduling.topologySpreadConstraints[0].topologyKey"},
}

const probeHeader = "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\n"

// metadataProbes are the constraints outside spec, probed with whole documents.
var metadataProbes = map[FieldKey]struct{ doc, path string }{
	key[v1alpha1.ObjectMeta]("name"):      {"apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: VALUE\n  namespace: db\n", "metadata.name"},
	key[v1alpha1.ObjectMeta]("namespace"): {"apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: VALUE\n", "metadata.namespace"},
}

// errorAt runs the pipeline and reports whether it found an error at path.
func errorAt(doc, path string) (bool, v1alpha1.Problems) {
	res := generate.FromYAML([]byte(doc))
	for _, p := range res.Problems {
		if !p.Warning && p.Path == path {
			return true, res.Problems
		}
	}
	return false, res.Problems
}

// TestConstraintsMatchValidation: for every constraint, the values it allows are exactly those
// Validate allows (on a corpus around each bound and pattern).
func TestConstraintsMatchValidation(t *testing.T) {
	defaults := Defaults()
	longName := strings.Repeat("a", v1alpha1.MaxNameLength)
	words := []string{"rqlite", "a", "a1", "1db", "My_DB", "a-", "-a", "a.b", "a..b", "-bad-", "cluster.local", "fast-ssd", "zone", "",
		longName, longName + "a", strings.Repeat("b", 63), strings.Repeat("b", 64), strings.Repeat("c.", 126) + "c"}
	// The extraArgs probe puts VALUE where it may be a flag or the value of the flag before it,
	// with a value after it, so that only what one item's schema can judge decides (see ExtraArg).
	args := []string{"-fk=true", "-raft-snap=4096", "fk", "--fk", "-on-disk", "-join-as=u", "-raft-snap", "-fk=yes", "--fk=F", "-", "--", "---fk",
		"-raft-log-level=a\nb", "a\u0085b", "-raft-snap 1", "", "-version", "-extensions-path="}
	for f := range v1alpha1.ManagedFlags {
		args = append(args, "-"+f, "--"+f+"=x", "-"+f+"-extra=1")
	}
	for f := range v1alpha1.UnsupportedFlags {
		args = append(args, "-"+f+"=1")
	}
	for k, c := range FieldConstraints {
		if k.Type.Name() == "TypeMeta" {
			continue // apiVersion and kind: see testdata/bad
		}
		probe, ok := constraintProbes[k]
		if !ok {
			probe, ok = metadataProbes[k]
		} else {
			probe.doc = probeHeader + probe.doc
		}
		if !assert.True(t, ok, "no probe for the constraint on %s.%s: add one to constraintProbes", k.Type.Name(), k.Field) {
			continue
		}
		type value struct {
			yaml    string
			allowed bool
		}
		var values []value
		for _, e := range c.Enum {
			values = append(values, value{strconv.Quote(e), true})
		}
		if c.Enum != nil {
			values = append(values, value{`"Bogus"`, false})
		}
		if c.Minimum != nil {
			values = append(values, value{strconv.FormatInt(*c.Minimum, 10), true}, value{strconv.FormatInt(*c.Minimum-1, 10), false})
		}
		if c.Maximum != nil {
			values = append(values, value{strconv.FormatInt(*c.Maximum, 10), true}, value{strconv.FormatInt(*c.Maximum+1, 10), false})
		}
		if c.Pattern != "" || c.MinLength != nil || c.MaxLength != nil {
			corpus := words
			if c.Items {
				corpus = args
			}
			for _, w := range corpus {
				if w == "" && defaults[k] != nil {
					continue // an explicit "" means "the default" to the function; the schema flags it
				}
				values = append(values, value{strconv.Quote(w), stringAllowed(c, w)})
			}
		}
		for _, v := range values {
			bad, ps := errorAt(strings.Replace(probe.doc, "VALUE", v.yaml, 1), probe.path)
			assert.Equal(t, v.allowed, !bad, "%s.%s = %s: the schema says allowed=%v, Validate says %v", k.Type.Name(), k.Field, v.yaml, v.allowed, ps)
		}
	}
}

func stringAllowed(c Constraint, s string) bool {
	if c.Pattern != "" && !regexp.MustCompile(c.Pattern).MatchString(s) {
		return false
	}
	if c.NotPattern != "" && regexp.MustCompile(c.NotPattern).MatchString(s) {
		return false
	}
	if c.MinLength != nil && int64(len(s)) < *c.MinLength {
		return false
	}
	return c.MaxLength == nil || int64(len(s)) <= *c.MaxLength
}

// specFiles are the spec files as written in the repository: every example and golden input.
func specFiles(t *testing.T) []string {
	root := testenv.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "testdata", "specs", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range []string{"examples/rqlite.yaml", "examples/kpt/rqlite.yaml", "base/spec/rqlite.yaml"} {
		files = append(files, filepath.Join(root, f))
	}
	return files
}

// overlayPatches are the RqliteSpec patches the overlays write inline in their kustomizations;
// they are spec documents too, and an editor checks them once extracted.
func overlayPatches(t *testing.T, dir string) []string {
	root := testenv.RepoRoot(t)
	kusts, err := filepath.Glob(filepath.Join(root, "overlays", "*", "spec", "kustomization.yaml"))
	require.NoError(t, err)
	var out []string
	for _, k := range kusts {
		b, err := os.ReadFile(k)
		require.NoError(t, err)
		var kust struct {
			Patches []struct {
				Patch string `json:"patch"`
			} `json:"patches"`
		}
		require.NoError(t, yaml.Unmarshal(b, &kust))
		for i, p := range kust.Patches {
			if !strings.Contains(p.Patch, "kind: RqliteSpec") {
				continue
			}
			name := filepath.Base(filepath.Dir(filepath.Dir(k)))
			out = append(out, writeTemp(t, dir, name+"-patch-"+strconv.Itoa(i)+".yaml", p.Patch))
		}
	}
	return out
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// validatorResult is one document's verdict from schema/validate.
type validatorResult struct {
	File     string `json:"file"`
	Document int    `json:"document"`
	Valid    bool   `json:"valid"`
	Errors   []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

// validate runs the independent validator (schema/validate, its own module) over files.
func validate(t *testing.T, files []string) map[string]validatorResult {
	t.Helper()
	root := testenv.RepoRoot(t)
	cmd := exec.Command(testenv.GoTool(), append([]string{"run", ".", "-json"}, files...)...)
	cmd.Dir = filepath.Join(root, "schema", "validate")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("schema/validate: %v\n%s", err, errb.String())
	}
	var results []validatorResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &results), "%s", errb.String())
	byFile := map[string]validatorResult{}
	for _, r := range results {
		byFile[r.File] = r
	}
	return byFile
}

// TestSchemaWithIndependentValidator validates with santhosh-tekuri/jsonschema (schema/validate):
// every example and golden input spec is accepted, as are the overlays' patches, and the
// single-spec cases of testdata/bad are rejected exactly when schemaVerdicts says the schema can
// express their rule.
func TestSchemaWithIndependentValidator(t *testing.T) {
	dir := t.TempDir()
	good := append(specFiles(t), overlayPatches(t, dir)...)
	for _, f := range good {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		res := generate.FromYAML(b)
		require.False(t, res.Problems.HasErrors(), "%s is not a valid spec: %v", f, res.Problems)
	}
	bad := readBadSpecs(t)
	require.NotEmpty(t, bad)
	badFile := map[string]badSpec{}
	var files []string
	for i, b := range bad {
		f := writeTemp(t, dir, "bad-"+strconv.Itoa(i)+".yaml", b.doc)
		badFile[f] = b
		files = append(files, f)
	}
	results := validate(t, append(append([]string{}, good...), files...))

	for _, f := range good {
		r, ok := results[f]
		if assert.True(t, ok, "no result for %s", f) {
			assert.True(t, r.Valid, "%s: %v", f, r.Errors)
		}
	}
	var unclassified []string
	for _, f := range files {
		b := badFile[f]
		verdict, ok := schemaVerdicts[b.name]
		if !ok {
			unclassified = append(unclassified, b.name)
			continue
		}
		r := results[f]
		switch verdict {
		case rejected:
			if assert.False(t, r.Valid, "%q: expected the schema to reject it", b.name) {
				assert.True(t, reportedAt(r, b.paths), "%q: no error at %v or above: %v", b.name, b.paths, r.Errors)
			}
		case unparsable:
			assert.False(t, r.Valid, "%q", b.name)
		case accepted, objectMeta:
			assert.True(t, r.Valid, "%q: the schema rejects it, so it is expressible: mark it rejected (%v)", b.name, r.Errors)
		}
	}
	sort.Strings(unclassified)
	assert.Empty(t, unclassified, "cases of testdata/bad without a schema verdict: add them to schemaVerdicts")
	for name := range schemaVerdicts {
		found := false
		for _, b := range bad {
			found = found || b.name == name
		}
		assert.True(t, found, "schemaVerdicts names %q, which testdata/bad no longer has as a single-spec case", name)
	}
}

// reportedAt: the validator reports a problem where the function does, or at an enclosing object
// (a missing required field is reported at the object that lacks it).
func reportedAt(r validatorResult, paths []string) bool {
	for _, e := range r.Errors {
		for _, path := range paths {
			if e.Path == path || e.Path == "" || strings.HasPrefix(path, e.Path+".") {
				return true
			}
		}
	}
	return false
}

// TestRequiredFieldsAreRequired: a field of the API's own types that the schema requires is one the
// function cannot do without. Each required field the example specs set is removed in turn, and
// the pipeline must then report an error. (Kubernetes types follow Kubernetes' rule instead: the
// API server would refuse the rendered object.)
func TestRequiredFieldsAreRequired(t *testing.T) {
	g, err := FromSource()
	require.NoError(t, err)
	type site struct {
		parent []any // keys (string) and indexes (int) from the document to the object
		field  string
		owner  string
	}
	var collect func(n *node, v any, at []any, out *[]site)
	collect = func(n *node, v any, at []any, out *[]site) {
		switch n.kind {
		case kObject:
			m, _ := v.(map[string]any)
			for _, f := range n.fields {
				fv, ok := m[f.name]
				if !ok {
					continue
				}
				if f.required && !n.kube {
					*out = append(*out, site{append([]any{}, at...), f.name, n.named.Name() + "." + f.name})
				}
				collect(f.node, fv, append(append([]any{}, at...), f.name), out)
			}
		case kArray:
			l, _ := v.([]any)
			for i, e := range l {
				collect(n.elem, e, append(append([]any{}, at...), i), out)
			}
		case kMap:
			m, _ := v.(map[string]any)
			for k, e := range m {
				collect(n.elem, e, append(append([]any{}, at...), k), out)
			}
		}
	}
	covered := map[string]bool{}
	for _, file := range specFiles(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(b, &doc))
		var sites []site
		collect(g.root, doc, nil, &sites)
		for _, s := range sites {
			var cp map[string]any
			require.NoError(t, yaml.Unmarshal(b, &cp))
			var at any = cp
			for _, p := range s.parent {
				switch k := p.(type) {
				case string:
					at = at.(map[string]any)[k]
				case int:
					at = at.([]any)[k]
				}
			}
			delete(at.(map[string]any), s.field)
			out, err := yaml.Marshal(cp)
			require.NoError(t, err)
			assert.True(t, generate.FromYAML(out).Problems.HasErrors(), "%s: without %s (%v) the spec still renders", file, s.owner, s.parent)
			covered[s.owner] = true
		}
	}
	var unchecked []string
	for _, n := range g.structs {
		for _, f := range n.fields {
			if f.required && !n.kube && !covered[n.named.Name()+"."+f.name] {
				unchecked = append(unchecked, n.named.Name()+"."+f.name)
			}
		}
	}
	sort.Strings(unchecked)
	t.Logf("required fields no example sets, so not checked here: %v", unchecked)
}
