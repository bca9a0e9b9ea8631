// Package helmimport turns the values of a release of the rqlite Helm chart (2.0.0) into the
// RqliteSpec that adopts that release's objects in place (naming: helm-chart): same StatefulSets,
// claims, node ids and Raft addresses. Every chart value ends up in the report: mapped to a spec
// field, replaced by the function's own behaviour, dropped as having no effect, or unsupported
// with the reason and what to do instead. Nothing is silently ignored, because a value the
// import loses is a behaviour the cluster loses on the next rollout.
package helmimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Options name the release whose values are imported.
type Options struct {
	// Release is the Helm release name (default "rqlite"); it decides the fullname and the
	// app.kubernetes.io/instance label of every selector.
	Release string
	// Namespace is the release's namespace. Required: the chart's nodes advertise fully
	// qualified Raft addresses, which name it.
	Namespace string
	// ClusterDomain is the cluster's DNS domain when it is not cluster.local: the chart's nodes
	// advertise `hostname -f`, which ends in it.
	ClusterDomain string
	// SchemaRef, when set, is written as the spec's `# yaml-language-server: $schema=` comment.
	SchemaRef string
}

// Result is the imported spec and the report.
type Result struct {
	Spec *v1alpha1.RqliteSpec
	// YAML is the spec as written to a file, with its header comments.
	YAML   []byte
	Report *Report
	// Problems are the function's own findings about the spec (validated exactly as a render
	// would); errors mean the spec must be fixed before it renders.
	Problems v1alpha1.Problems
}

// ErrNoNamespace is returned when Options.Namespace is empty.
var ErrNoNamespace = errors.New("the release's namespace is required: helm-chart naming writes the fully qualified Raft addresses the chart's nodes advertise, which name it")

// Import reads one or more values files (later ones override earlier ones, as with helm -f) and
// returns the equivalent RqliteSpec. Errors are for input that cannot be read at all; everything
// about individual values goes into the report.
func Import(opts Options, valuesFiles ...[]byte) (*Result, error) {
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if opts.Namespace == "" {
		return nil, ErrNoNamespace
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", opts.Namespace, strings.Join(errs, "; "))
	}
	// Helm's own rule for release names.
	if errs := validation.IsDNS1123Subdomain(opts.Release); len(errs) > 0 || len(opts.Release) > 53 {
		return nil, fmt.Errorf("release %q is not a Helm release name (lower-case letters, digits, '-' and '.', at most 53)", opts.Release)
	}
	// The domain ends every advertised address; it is the operator's option, not a chart value,
	// so a bad one is refused like a bad namespace rather than reported as a value.
	if d := opts.ClusterDomain; d != "" {
		if errs := validation.IsDNS1123Subdomain(d); len(errs) > 0 {
			return nil, fmt.Errorf("cluster domain %q is not a DNS domain (lower-case letters, digits, '-' and '.', e.g. cluster.local): %s", d, strings.Join(errs, "; "))
		}
	}
	user := map[string]any{}
	for i, f := range valuesFiles {
		m, err := parseValues(f)
		if err != nil {
			return nil, fmt.Errorf("values file %d: %w", i+1, err)
		}
		user = overlay(user, m)
	}
	im := &importer{
		opts:     opts,
		user:     user,
		eff:      coalesce(user, chartDefaults()),
		consumed: map[string]bool{},
		spec: &v1alpha1.RqliteSpec{
			Metadata: v1alpha1.ObjectMeta{Namespace: opts.Namespace},
			Spec:     v1alpha1.ClusterSpec{Naming: v1alpha1.NamingHelmChart, ClusterDomain: opts.ClusterDomain},
		},
	}
	im.spec.APIVersion, im.spec.Kind = v1alpha1.APIVersion, v1alpha1.Kind
	im.rep = &Report{Chart: ChartName + " " + ChartVersion, Release: opts.Release, Namespace: opts.Namespace}
	im.run()

	out, err := im.encode()
	if err != nil {
		return nil, err
	}
	res := generate.FromYAML(out)
	for _, p := range res.Problems {
		sev := "error"
		if p.Warning {
			sev = "warning"
		}
		im.rep.Problems = append(im.rep.Problems, fmt.Sprintf("[%s] %s", sev, p))
	}
	im.rep.sort()
	return &Result{Spec: im.spec, YAML: out, Report: im.rep, Problems: res.Problems}, nil
}

type importer struct {
	opts     Options
	user     map[string]any // what the values files say
	eff      map[string]any // what the chart rendered with: the user's values over the defaults
	consumed map[string]bool
	spec     *v1alpha1.RqliteSpec
	rep      *Report
	name     string   // the chart's name label (nameOverride or "rqlite")
	fullname string   // prefix of every object name
	secrets  []string // Secrets the spec references that the user must create
}

func (im *importer) run() {
	im.names()
	im.image()
	im.voters()
	im.readOnly()
	im.pools()
	im.storage()
	im.services()
	im.ingress()
	im.serviceAccount()
	im.networkPolicy()
	im.tls()
	im.auth()
	im.backup()
	im.leftovers()
}

// add records an entry; its path and everything below it count as handled.
func (im *importer) add(e Entry) {
	e.Default = !im.userSet(e.Path)
	im.rep.Entries = append(im.rep.Entries, e)
	im.consumed[e.Path] = true
}

func (im *importer) mapped(path, to, reason string) {
	im.add(Entry{Path: path, Status: Mapped, To: to, Reason: reason})
}

func (im *importer) replaced(path, reason string) {
	im.add(Entry{Path: path, Status: Replaced, Reason: reason})
}

func (im *importer) dropped(path, reason string) {
	im.add(Entry{Path: path, Status: Dropped, Reason: reason})
}

func (im *importer) unsupported(path, reason, action string) {
	im.add(Entry{Path: path, Status: Unsupported, Reason: reason, Action: action})
}

// consume marks values as handled without an entry: defaults that change nothing.
func (im *importer) consume(paths ...string) {
	for _, p := range paths {
		im.consumed[p] = true
	}
}

// userSet reports whether the values files set a path (or something below it).
func (im *importer) userSet(path string) bool {
	path, _, _ = strings.Cut(path, "[")
	_, ok := lookup(im.user, path)
	return ok
}

func (im *importer) get(path string) any {
	v, _ := lookup(im.eff, path)
	return v
}

func (im *importer) has(path string) bool {
	_, ok := lookup(im.eff, path)
	return ok
}

// decode converts a chart value into a Kubernetes type, refusing fields the type does not have
// (a typo in a values file would otherwise vanish here).
func decode(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

func (im *importer) ns() string { return im.opts.Namespace }

func (im *importer) kubectl() string { return "kubectl -n " + im.ns() }

// ---- names ----

func (im *importer) names() {
	im.name = ChartName
	if no := str(im.get("nameOverride")); no != "" {
		im.name = no
		im.unsupported("nameOverride",
			fmt.Sprintf("the chart labels and selects every pod app.kubernetes.io/name=%s; rqlite-krm's name label is always %q and StatefulSet selectors are immutable, so these StatefulSets cannot be adopted", no, model.AppName),
			"migrate into a new cluster instead: render this spec under another name, restore it from a backup (spec.backup.restore), move clients, then uninstall the release")
	} else {
		im.consume("nameOverride")
	}
	release := im.opts.Release
	if fo := str(im.get("fullnameOverride")); fo != "" {
		im.fullname = fo
		im.mapped("fullnameOverride", "metadata.name", "")
	} else {
		im.consume("fullnameOverride")
		// The chart's fullname helper: the release name alone when it already contains the
		// chart's name, otherwise <release>-<name>.
		if strings.Contains(release, im.name) {
			im.fullname = release
		} else {
			im.fullname = release + "-" + im.name
		}
	}
	if len(im.fullname) > 63 {
		im.fullname = im.fullname[:63]
	}
	im.fullname = strings.TrimSuffix(im.fullname, "-")
	im.rep.Name = im.fullname
	im.spec.Metadata.Name = im.fullname
	if release != im.fullname {
		im.spec.Spec.HelmRelease = release
	}
}

// ---- image ----

func (im *importer) image() {
	repo := str(im.get("image.repository"))
	tag := str(im.get("image.tag"))
	tagWhy := ""
	if tag == "" {
		tag = ChartAppVersion
		tagWhy = "not set: the chart's appVersion " + ChartAppVersion + " (pinned, so a later default of the function never changes the running version)"
	}
	im.spec.Spec.Image = repo + ":" + tag
	im.mapped("image.repository", "spec.image", "")
	im.mapped("image.tag", "spec.image", tagWhy)
	if pp := str(im.get("image.pullPolicy")); pp != "" {
		im.spec.Spec.ImagePullPolicy = corev1.PullPolicy(pp)
		im.mapped("image.pullPolicy", "spec.imagePullPolicy", "")
	} else {
		// Kubernetes' default for a tagged image is IfNotPresent, the function's default too.
		im.consume("image.pullPolicy")
	}
	secrets, _ := im.get("image.pullSecrets").([]any)
	for _, s := range secrets {
		name := str(s)
		if m, ok := s.(map[string]any); ok {
			name = str(m["name"])
		}
		if name != "" {
			im.spec.Spec.ImagePullSecrets = append(im.spec.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
		}
	}
	if len(secrets) > 0 {
		im.mapped("image.pullSecrets", "spec.imagePullSecrets", "")
	} else {
		im.consume("image.pullSecrets")
	}
}

// ---- pools ----

func (im *importer) voters() {
	n, ok := integer(im.get("replicaCount"))
	if !ok {
		im.unsupported("replicaCount", fmt.Sprintf("%v is not a whole number", im.get("replicaCount")), "write the number of voters")
		return
	}
	im.spec.Spec.Voters.Replicas = ptr(int32(n))
	why := ""
	if n == 1 {
		why = "a single voter: the migration restarts it once, which is a short outage; scale the release to 3 voters first (helm upgrade --set replicaCount=3) to migrate without one"
	}
	im.mapped("replicaCount", "spec.voters.replicas", why)

	peers := truthy(im.get("useStaticPeers"))
	im.spec.Spec.Recovery.StaticPeers = peers
	if peers {
		im.mapped("useStaticPeers", "spec.recovery.staticPeers", "a disaster-recovery switch: set it back to false once the cluster has a leader again")
	} else {
		im.consume("useStaticPeers")
	}
}

func (im *importer) readOnly() {
	n, ok := integer(im.get("readonly.replicaCount"))
	if !ok {
		im.unsupported("readonly.replicaCount", fmt.Sprintf("%v is not a whole number", im.get("readonly.replicaCount")), "write the number of read-only nodes")
		return
	}
	if n < 0 {
		im.unsupported("readonly.replicaCount", fmt.Sprintf("%d is negative; the chart renders no read-only pool from it, and neither does the spec", n),
			"write 0 for no read-only pool, or the number of read-only nodes the release runs")
	}
	if n <= 0 {
		im.consume("readonly.replicaCount")
		// Without a pool the chart renders nothing from the other readonly.* values.
		if ro, _ := im.user["readonly"].(map[string]any); len(ro) > 0 {
			for k := range ro {
				if k != "replicaCount" {
					im.dropped("readonly."+k, "readonly.replicaCount is 0: the chart renders no read-only pool, so this has no effect")
				}
			}
		}
		return
	}
	im.spec.Spec.ReadOnly = &v1alpha1.ReadOnlyPool{Replicas: ptr(int32(n))}
	im.mapped("readonly.replicaCount", "spec.readOnly.replicas", "")
}

// pool is one StatefulSet's view of the values: the read-only pool reads readonly.<key> when it
// is present (even null: the chart's override is whole, not merged) and the top-level key
// otherwise.
type pool struct {
	ro   bool
	spec *v1alpha1.Pool
	to   string // spec path of the pool
}

func (im *importer) poolsList() []pool {
	ps := []pool{{spec: &im.spec.Spec.Voters.Pool, to: "spec.voters"}}
	if ro := im.spec.Spec.ReadOnly; ro != nil {
		ps = append(ps, pool{ro: true, spec: &ro.Pool, to: "spec.readOnly"})
	}
	return ps
}

// value returns a pool's effective value of a key, the path it comes from, and whether this is
// the pool that should report it (the read-only pool reports only its own overrides).
func (im *importer) value(p pool, key string) (any, string, bool) {
	if p.ro {
		if v, ok := lookup(im.eff, "readonly."+key); ok {
			return v, "readonly." + key, true
		}
		return im.get(key), key, false
	}
	return im.get(key), key, true
}

// mapTo records that a value maps to a spec field, appending the field when another pool already
// mapped the same value.
func (im *importer) mapTo(path, to, reason string) {
	for i, e := range im.rep.Entries {
		if e.Path == path && e.Status == Mapped {
			if !strings.Contains(e.To, to) {
				im.rep.Entries[i].To += ", " + to
			}
			return
		}
	}
	im.mapped(path, to, reason)
}

func (im *importer) pools() {
	for _, p := range im.poolsList() {
		im.resources(p)
		im.scheduling(p)
		im.podMeta(p)
		im.extraEnv(p)
		im.extraArgs(p)
		im.replacedByFunction(p)
		im.extraFiles(p)
	}
	if im.spec.Spec.ReadOnly == nil {
		return
	}
	// The chart gives the read-only pool its own PDB (maxUnavailable 1 unless overridden).
	if im.has("readonly.podDisruptionBudget") {
		im.replaced("readonly.podDisruptionBudget", "the function renders the read-only pool's PDB itself: maxUnavailable 1")
	}
}

func (im *importer) resources(p pool) {
	v, path, report := im.value(p, "resources")
	to := p.to + ".resources"
	if empty(v) {
		if report {
			im.replaced(path, "no resources set: the function's defaults apply (requests cpu 250m, memory 256Mi, ephemeral-storage 64Mi; limits memory 1Gi, ephemeral-storage 1Gi)")
		}
		return
	}
	var rr corev1.ResourceRequirements
	if err := decode(v, &rr); err != nil {
		if report {
			im.unsupported(path, "not a Kubernetes ResourceRequirements: "+err.Error(), "fix the value, then import again")
		}
		return
	}
	p.spec.Resources = &rr
	var added []string
	for _, r := range []struct {
		list corev1.ResourceList
		kind string
		name corev1.ResourceName
		def  string
	}{
		{rr.Requests, "request", corev1.ResourceCPU, v1alpha1.DefaultCPURequest},
		{rr.Requests, "request", corev1.ResourceMemory, v1alpha1.DefaultMemoryRequest},
		{rr.Limits, "limit", corev1.ResourceMemory, v1alpha1.DefaultMemoryLimit},
		{rr.Requests, "request", corev1.ResourceEphemeralStorage, v1alpha1.DefaultEphemeralRequest},
		{rr.Limits, "limit", corev1.ResourceEphemeralStorage, v1alpha1.DefaultEphemeralLimit},
	} {
		if _, ok := r.list[r.name]; !ok {
			added = append(added, fmt.Sprintf("%s %s %s", r.name, r.kind, r.def))
		}
	}
	why := ""
	if len(added) > 0 {
		why = "the function adds what is not set (" + strings.Join(added, ", ") + ", each capped to fit what is set)"
		if _, ok := rr.Limits[corev1.ResourceMemory]; !ok {
			why += "; the chart set no memory limit, so check that the nodes' memory use stays under it, or set " + to + ".limits.memory"
		}
	}
	if report {
		im.mapTo(path, to, why)
	} else {
		im.mapTo(path, to, "")
	}
}

// templateExpr are the template expressions the chart's documentation shows in scheduling
// values; the import can evaluate them because it knows the names they stand for.
var (
	nameExpr     = regexp.MustCompile(`\{\{-?\s*(template|include)\s+"rqlite\.name"\s+\.\s*-?\}\}`)
	fullnameExpr = regexp.MustCompile(`\{\{-?\s*(template|include)\s+"rqlite\.fullname"\s+\.\s*-?\}\}`)
	releaseExpr  = regexp.MustCompile(`\{\{-?\s*\.Release\.Name\s*-?\}\}`)
	nsExpr       = regexp.MustCompile(`\{\{-?\s*\.Release\.Namespace\s*-?\}\}`)
)

// expand evaluates the template expressions the chart allows in scheduling values. It reports
// false when something else is templated, which only Helm could evaluate.
func (im *importer) expand(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		s := nameExpr.ReplaceAllString(t, im.name)
		s = fullnameExpr.ReplaceAllString(s, im.fullname)
		s = releaseExpr.ReplaceAllString(s, im.opts.Release)
		s = nsExpr.ReplaceAllString(s, im.ns())
		return s, !strings.Contains(s, "{{")
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			e, ok := im.expand(x)
			if !ok {
				return nil, false
			}
			out[k] = e
		}
		return out, true
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			e, ok := im.expand(x)
			if !ok {
				return nil, false
			}
			out[i] = e
		}
		return out, true
	}
	return v, true
}

func (im *importer) scheduling(p pool) {
	to := p.to + ".scheduling."
	if v, path, report := im.value(p, "nodeSelector"); !empty(v) {
		var ns map[string]string
		if im.convert(v, &ns, path, report, "a map of node labels") {
			p.spec.Scheduling.NodeSelector = ns
			im.mapTo(path, to+"nodeSelector", "")
		}
	} else if report {
		im.consume(path)
	}
	if v, path, report := im.value(p, "tolerations"); !empty(v) {
		var ts []corev1.Toleration
		if im.convert(v, &ts, path, report, "a list of Kubernetes Tolerations") {
			p.spec.Scheduling.Tolerations = ts
			im.mapTo(path, to+"tolerations", "")
		}
	} else if report {
		im.consume(path)
	}
	if v, path, report := im.value(p, "affinity"); !empty(v) {
		if equal(v, defaultAffinity()) {
			if report {
				im.dropped(path, "the chart's default: it only keeps pods on the architectures of the official image; the function's default host anti-affinity and zone spread apply instead")
			}
		} else {
			var a corev1.Affinity
			if im.convert(v, &a, path, report, "a Kubernetes Affinity") {
				p.spec.Scheduling.Affinity = &a
				why := "replaces the function's default host anti-affinity between pods of the pool; add a podAntiAffinity to it to keep one"
				if !report {
					why = ""
				}
				im.mapTo(path, to+"affinity", why)
			}
		}
	} else if report {
		im.replaced(path, "no affinity: the function's default host anti-affinity (preferred) applies")
	}
	if v, path, report := im.value(p, "topologySpreadConstraints"); !empty(v) {
		var tsc []corev1.TopologySpreadConstraint
		if im.convert(v, &tsc, path, report, "a list of Kubernetes TopologySpreadConstraints") {
			p.spec.Scheduling.TopologySpreadConstraints = tsc
			im.mapTo(path, to+"topologySpreadConstraints", "")
		}
	} else if report {
		im.replaced(path, "none set: the function's default zone spread (ScheduleAnyway) applies")
	}
}

// convert expands templates and decodes a value into a Kubernetes type, reporting why not.
func (im *importer) convert(v any, out any, path string, report bool, what string) bool {
	x, ok := im.expand(v)
	if !ok {
		if report {
			im.unsupported(path, "uses Helm templating beyond the chart's name, fullname and release, which only Helm can evaluate",
				"write the value out as Helm renders it (helm get manifest shows it), then import again")
		}
		return false
	}
	if err := decode(x, out); err != nil {
		if report {
			im.unsupported(path, "not "+what+": "+err.Error(), "fix the value, then import again")
		}
		return false
	}
	return true
}

func (im *importer) podMeta(p pool) {
	if v, path, report := im.value(p, "podLabels"); !empty(v) {
		var labels map[string]string
		if im.convert(v, &labels, path, report, "a map of labels") {
			var reserved []string
			for k := range labels {
				if strings.HasPrefix(k, "app.kubernetes.io/") {
					reserved = append(reserved, k)
					delete(labels, k)
				}
			}
			sort.Strings(reserved)
			if len(labels) > 0 {
				p.spec.PodLabels = labels
			}
			why := ""
			if len(reserved) > 0 && report {
				why = "dropped " + strings.Join(reserved, ", ") + ": app.kubernetes.io/* labels are the function's (selectors)"
			}
			im.mapTo(path, p.to+".podLabels", why)
		}
	} else if report {
		im.consume(path)
	}
	if v, path, report := im.value(p, "podAnnotations"); !empty(v) {
		var ann map[string]string
		if im.convert(v, &ann, path, report, "a map of annotations") {
			p.spec.PodAnnotations = ann
			im.mapTo(path, p.to+".podAnnotations", "")
		}
	} else if report {
		im.consume(path)
	}
}

func (im *importer) extraEnv(p pool) {
	v, path, report := im.value(p, "extraEnv")
	if empty(v) {
		if report {
			im.consume(path)
		}
		return
	}
	var env []corev1.EnvVar
	if !im.convert(v, &env, path, report, "a list of Kubernetes EnvVars") {
		return
	}
	var kept []corev1.EnvVar
	var dropped []string
	for _, e := range env {
		if contains(v1alpha1.ReservedEnv, e.Name) {
			dropped = append(dropped, e.Name)
			continue
		}
		kept = append(kept, e)
	}
	p.spec.ExtraEnv = kept
	why := ""
	if len(dropped) > 0 && report {
		why = "dropped " + strings.Join(dropped, ", ") + ": the function sets these itself"
	}
	im.mapTo(path, p.to+".extraEnv", why)
}

// extraArgs: the chart passes the top-level extraArgs to both pools and ignores readonly.extraArgs
// (a known defect of 2.0.0). The import keeps what the pods run today, so a migration changes no
// flag; readonly.extraArgs is reported for the user to apply deliberately afterwards.
func (im *importer) extraArgs(p pool) {
	if p.ro {
		if im.has("readonly.extraArgs") {
			im.dropped("readonly.extraArgs", "the chart 2.0.0 ignores readonly.extraArgs: its read-only pods run the top-level extraArgs, and so do the imported ones, so the migration changes no flag; "+
				"to apply these flags, set spec.readOnly.extraArgs in a separate change after the migration")
		}
		p.spec.ExtraArgs = im.spec.Spec.Voters.ExtraArgs
		if len(p.spec.ExtraArgs) > 0 {
			im.mapTo("extraArgs", "spec.readOnly.extraArgs", "")
		}
		return
	}
	list, ok := im.get("extraArgs").([]any)
	if !ok {
		if im.get("extraArgs") != nil {
			im.unsupported("extraArgs", "not a list of flags", "write extraArgs as a list such as [\"-fk=true\"]")
		} else {
			im.consume("extraArgs")
		}
		return
	}
	var kept []string
	for i, a := range list {
		arg := str(a)
		ap := fmt.Sprintf("extraArgs[%d]", i)
		name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch {
		case !strings.HasPrefix(arg, "-"):
			im.dropped(ap, fmt.Sprintf("%q is not a flag: rqlited's only positional argument is its data directory, which the function sets", arg))
		case v1alpha1.ManagedFlags[name] != "":
			im.dropped(ap, fmt.Sprintf("%s: -%s is managed by the function (%s)", arg, name, v1alpha1.ManagedFlags[name]))
		case v1alpha1.UnsupportedFlags[name] != "":
			im.unsupported(ap, fmt.Sprintf("%s is not valid in every rqlite release the function supports: %s", arg, v1alpha1.UnsupportedFlags[name]),
				"replace it with its equivalent in spec.voters.extraArgs")
		default:
			kept = append(kept, arg)
		}
	}
	p.spec.ExtraArgs = kept
	if len(kept) > 0 {
		im.mapTo("extraArgs", "spec.voters.extraArgs", "")
	} else {
		im.consume("extraArgs")
	}
}

// replacedByFunction reports the pod settings the function always renders itself.
func (im *importer) replacedByFunction(p pool) {
	probes := "the function's probes replace the chart's: startup and liveness /readyz?noleader, readiness /readyz?sync (ready only once caught up with the leader), no credentials (with spec.auth the users file grants the anonymous user \"ready\"); timings can be tuned in " + p.to + ".probes"
	for _, key := range []string{"readinessProbe", "startupProbe", "livenessProbe"} {
		if v, path, report := im.value(p, key); report {
			if empty(v) {
				im.consume(path)
			} else {
				im.replaced(path, probes)
			}
		}
	}
	if v, path, report := im.value(p, "terminationGracePeriodSeconds"); report {
		n, ok := integer(v)
		switch {
		case v == nil:
			im.consume(path)
		case ok && n <= 45:
			im.replaced(path, fmt.Sprintf("%d s: the function gives %d s (a read-only node removing itself, a leader stepping down)", n, 45))
		default:
			im.unsupported(path, fmt.Sprintf("%v s is longer than the function's fixed 45 s: rqlited could be killed while it checkpoints the WAL on shutdown", v),
				"the spec has no grace period field; keep the release until it does, or accept 45 s")
		}
	}
	if v, path, report := im.value(p, "podSecurityContext"); report {
		m, _ := v.(map[string]any)
		uid, _ := integer(m["runAsUser"])
		gid, _ := integer(m["fsGroup"])
		switch {
		case v == nil:
			im.replaced(path, fmt.Sprintf("none set: the function runs rqlited as uid/gid %d with fsGroup %d", model.RunAsUser, model.RunAsUser))
		case (m["runAsUser"] == nil || uid == model.RunAsUser) && (m["fsGroup"] == nil || gid == model.RunAsUser):
			im.replaced(path, fmt.Sprintf("the function's pod security context: uid, gid and fsGroup %d (the chart's, so files on the volumes stay readable), non-root, RuntimeDefault seccomp", model.RunAsUser))
		default:
			im.unsupported(path, fmt.Sprintf("the volumes' files belong to uid %v / group %v; the function always runs as %d", m["runAsUser"], m["fsGroup"], model.RunAsUser),
				fmt.Sprintf("chown the data to %d:%d (e.g. a one-off Job mounting each PVC) before migrating", model.RunAsUser, model.RunAsUser))
		}
	}
	if v, path, report := im.value(p, "securityContext"); report {
		if empty(v) {
			im.replaced(path, "the function's container security context: the \"restricted\" Pod Security standard (no privilege escalation, all capabilities dropped, read-only root filesystem)")
		} else {
			im.replaced(path, "the function's container security context replaces it: the \"restricted\" Pod Security standard (no privilege escalation, all capabilities dropped, read-only root filesystem); an added capability or SELinux option is not carried over")
		}
	}
	if v, path, report := im.value(p, "updateStrategy"); report {
		if equal(v, map[string]any{"type": "RollingUpdate"}) {
			im.replaced(path, "the function's RollingUpdate, with minReadySeconds 10 so one voter at a time restarts and catches up")
		} else {
			im.replaced(path, "the function always uses RollingUpdate (minReadySeconds 10, one pod at a time, bounded by the PDB); a partition or OnDelete is not carried over")
		}
	}
	if !p.ro {
		if empty(im.get("podDisruptionBudget")) {
			im.replaced("podDisruptionBudget", "the function's quorum-safe PDB: maxUnavailable = ceil(N/2)-1 voters (the chart's default allows 1 even for a single voter)")
		} else {
			im.replaced("podDisruptionBudget", "the function's quorum-safe PDB replaces it: maxUnavailable = ceil(N/2)-1 voters, recomputed on every scale")
		}
	}
}

func (im *importer) extraFiles(p pool) {
	v, path, report := im.value(p, "extraFiles")
	if !report {
		return
	}
	if empty(v) {
		im.consume(path)
		return
	}
	im.unsupported(path, "the chart writes these files into Secret "+im.fullname+"-extra and mounts it at /config/extra; the spec has no files of its own",
		fmt.Sprintf("copy the files into a ConfigMap (a Secret if they are sensitive) and mount it with %[1]s.extraVolumes and %[1]s.extraVolumeMounts (mountPath /config/extra keeps the paths your flags use):\n"+
			"  %[2]s get secret %[3]s-extra -o json | jq '{apiVersion: \"v1\", kind: \"ConfigMap\", metadata: {name: \"%[3]s-extra-files\"}, data: (.data | map_values(@base64d))}' | %[2]s create -f -\n"+
			"  extraVolumes: [{name: extra-files, configMap: {name: %[3]s-extra-files}}]\n"+
			"  extraVolumeMounts: [{name: extra-files, mountPath: /config/extra}]",
			p.to, im.kubectl(), im.fullname))
}

// ---- storage ----

func (im *importer) storage() {
	if !truthy(im.get("persistence.enabled")) {
		im.unsupported("persistence.enabled", "the chart's pods keep their data on an emptyDir; the function always uses persistent volumes, and the StatefulSets' volumeClaimTemplates cannot be added in place",
			"take a backup, render this spec under a new name with spec.backup.restore, and move clients to it")
	} else {
		im.consume("persistence.enabled")
	}
	if labels := im.get("persistence.labels"); !empty(labels) {
		im.unsupported("persistence.labels", "the chart puts these labels on the volumeClaimTemplates, which are immutable; the spec cannot set claim labels, so the StatefulSets cannot be updated in place",
			"adopt the StatefulSets by recreating them (docs/helm-migration.md: `kubectl delete statefulset --cascade=orphan`); the existing PVCs keep their labels, new ones get the function's")
	} else {
		im.consume("persistence.labels")
	}
	if sc := str(im.get("persistence.storageClassName")); sc != "" {
		im.spec.Spec.Storage.StorageClassName = ptr(sc)
		im.mapped("persistence.storageClassName", "spec.storage.storageClassName", "")
	} else {
		im.consume("persistence.storageClassName")
	}
	size := str(im.get("persistence.size"))
	if q, err := resource.ParseQuantity(size); err == nil {
		im.spec.Spec.Storage.Size = &q
		im.mapped("persistence.size", "spec.storage.size", "")
	} else {
		im.unsupported("persistence.size", fmt.Sprintf("%q is not a quantity: %v", size, err), "write the size of the existing volumes, e.g. 10Gi")
	}
	if modes := im.get("persistence.accessModes"); equal(modes, []any{"ReadWriteOnce"}) {
		im.consume("persistence.accessModes")
	} else {
		im.unsupported("persistence.accessModes", fmt.Sprintf("%v: the function's claims are ReadWriteOnce and volumeClaimTemplates are immutable", modes),
			"adopt the StatefulSets by recreating them (docs/helm-migration.md: `kubectl delete statefulset --cascade=orphan`); existing PVCs keep their access modes")
	}
	if im.spec.Spec.ReadOnly != nil && im.has("readonly.persistence") {
		if equal(im.get("readonly.persistence"), im.get("persistence")) {
			im.mapped("readonly.persistence", "spec.storage", "the same as persistence")
		} else {
			im.unsupported("readonly.persistence", "the spec has one spec.storage for both pools",
				"keep the read-only pool's claims as they are by recreating its StatefulSet (docs/helm-migration.md); new read-only claims then get spec.storage")
		}
	}
}

// ---- services ----

// chartServicePort is the port of the chart's client Services: service.port, else 443 with client
// TLS, else 80.
func (im *importer) chartServicePort(prefix string) (int64, string) {
	if v := im.get(prefix + "service.port"); v != nil {
		n, _ := integer(v)
		return n, "service.port is " + str(v)
	}
	if prefix != "" {
		return im.chartServicePort("")
	}
	if truthy(im.get("config.tls.client.enabled")) {
		return 443, "the chart serves HTTPS on 443 because config.tls.client.enabled"
	}
	return 80, ""
}

func (im *importer) services() {
	svcType := str(im.get("service.type"))
	if svcType != "" && svcType != string(corev1.ServiceTypeClusterIP) {
		im.spec.Spec.Service.Type = corev1.ServiceType(svcType)
		im.mapped("service.type", "spec.service.type", "")
	} else {
		im.consume("service.type")
	}
	if ann := im.get("service.annotations"); !empty(ann) {
		var m map[string]string
		if im.convert(ann, &m, "service.annotations", true, "a map of annotations") {
			im.spec.Spec.Service.Annotations = m
			im.mapped("service.annotations", "spec.service.annotations", "on the client Services; the chart also put them on the headless Services, the function does not")
		}
	} else {
		im.consume("service.annotations")
	}
	im.serviceUnsupported("")
	port, why := im.chartServicePort("")
	if port != int64(model.HelmChartLayout.ServicePort) {
		im.add(Entry{Path: "service.port", Status: Unsupported,
			Reason: fmt.Sprintf("the chart's client Services listen on %d (%s); with naming: helm-chart the function's listen on %d, so clients using port %d would break", port, why, model.HelmChartLayout.ServicePort, port),
			Action: fmt.Sprintf("the spec has no Service port; before migrating, point clients at port %d (or at the pods' port 4001 through the headless Service) — or keep the release until the spec can set the port", model.HelmChartLayout.ServicePort)})
	} else {
		im.consume("service.port")
	}
	if im.spec.Spec.ReadOnly == nil {
		return
	}
	if v, ok := lookup(im.eff, "readonly.service.type"); ok && str(v) != svcType {
		im.unsupported("readonly.service.type", fmt.Sprintf("%s differs from service.type %s; the spec has one Service type for both client Services", str(v), svcType),
			"choose one type for both in spec.service.type, or expose the read-only pool with a Service of your own")
	} else {
		im.consume("readonly.service.type")
	}
	if v, ok := lookup(im.eff, "readonly.service.annotations"); ok && !equal(v, im.get("service.annotations")) {
		im.unsupported("readonly.service.annotations", "the spec has one set of annotations for both client Services", "merge them into spec.service.annotations")
	} else {
		im.consume("readonly.service.annotations")
	}
	im.serviceUnsupported("readonly.")
	if rp, _ := im.chartServicePort("readonly."); rp != port && im.has("readonly.service.port") {
		im.unsupported("readonly.service.port", fmt.Sprintf("%d: the function's read-only Service listens on %d", rp, model.HelmChartLayout.ServicePort), "point read-only clients at port 80")
	} else {
		im.consume("readonly.service.port")
	}
}

// serviceUnsupported reports the Service values the spec has no field for.
func (im *importer) serviceUnsupported(prefix string) {
	svc := im.fullname
	if prefix != "" {
		svc += "-readonly"
	}
	for _, f := range []struct{ key, why string }{
		{"nodePort", "the spec cannot pin node ports. The API server keeps a Service's allocated node port when an update leaves it out, so the adopted Service " + svc + " keeps it; a Service created anew gets a random one"},
		{"clusterIP", "the spec cannot pin a ClusterIP. It is immutable, so the adopted Service " + svc + " keeps it; a Service created anew gets another"},
		{"ipFamilyPolicy", "the spec cannot set IP families; the adopted Service keeps the families it has, a Service created anew gets the cluster's default"},
		{"ipFamilies", "the spec cannot set IP families; the adopted Service keeps the families it has, a Service created anew gets the cluster's default"},
	} {
		path := prefix + "service." + f.key
		if v := im.get(path); !empty(v) {
			im.unsupported(path, fmt.Sprintf("%v: %s; nothing to do for the migration, but do not delete the Service afterwards", str(v), f.why), "")
		} else {
			im.consume(path)
		}
	}
}

func (im *importer) ingress() {
	for _, prefix := range []string{"", "readonly."} {
		path := prefix + "ingress"
		if prefix != "" && (im.spec.Spec.ReadOnly == nil || !im.has(path)) {
			continue
		}
		svc := im.fullname
		if prefix != "" {
			svc += "-readonly"
		}
		if truthy(im.get(path + ".enabled")) {
			im.unsupported(path, "the function renders no Ingress",
				fmt.Sprintf("keep the chart's Ingress %s: it already points at Service %s port name http, which the adopted Service keeps (port %d). "+
					"Before the clean-up, put it in your own manifests (%s get ingress %s -o yaml) so it has an owner", svc, svc, model.HelmChartLayout.ServicePort, im.kubectl(), svc))
		} else if u, _ := lookup(im.user, path); differs(u, chartDefaults()["ingress"]) {
			im.dropped(path, "ingress.enabled is false: the chart renders no Ingress")
		} else {
			im.consume(path)
		}
	}
}

// ---- service account ----

func (im *importer) serviceAccount() {
	create := truthy(im.get("serviceAccount.create"))
	name := str(im.get("serviceAccount.name"))
	ann := im.get("serviceAccount.annotations")
	switch {
	case create && (name == "" || name == im.fullname):
		im.mapped("serviceAccount.create", "the function's ServiceAccount "+im.fullname, "")
		im.consume("serviceAccount.name")
	case create:
		im.replaced("serviceAccount.create", "the function always creates the pods' ServiceAccount, named "+im.fullname)
		im.unsupported("serviceAccount.name",
			fmt.Sprintf("the pods run as ServiceAccount %s today and as %s after the migration (the spec cannot name it); a cloud IAM trust policy (IRSA, workload identity) or RoleBinding that names system:serviceaccount:%s:%s does not cover the new one", name, im.fullname, im.ns(), name),
			fmt.Sprintf("before migrating, let the IAM role (or RoleBinding) also trust system:serviceaccount:%s:%s; after the clean-up, delete ServiceAccount %s", im.ns(), im.fullname, name))
	case name != "":
		im.unsupported("serviceAccount.name",
			fmt.Sprintf("the pods run as the existing ServiceAccount %s; the function always creates its own, %s, and the spec cannot name an existing one", name, im.fullname),
			fmt.Sprintf("copy what %s grants (IAM role annotations into spec.serviceAccount.annotations, RoleBindings, trust policies naming system:serviceaccount:%s:%s) to %s before migrating", name, im.ns(), name, im.fullname))
		im.consume("serviceAccount.create")
	default:
		im.consume("serviceAccount.create", "serviceAccount.name")
		im.replaced("serviceAccount", fmt.Sprintf("the chart's pods use the namespace's default ServiceAccount; the function's run as their own, %s, with no API token mounted", im.fullname))
	}
	switch {
	case empty(ann):
		im.consume("serviceAccount.annotations")
	case create:
		var m map[string]string
		if im.convert(ann, &m, "serviceAccount.annotations", true, "a map of annotations") {
			im.spec.Spec.ServiceAccount.Annotations = m
			im.mapped("serviceAccount.annotations", "spec.serviceAccount.annotations", "")
		}
	default:
		im.dropped("serviceAccount.annotations", "serviceAccount.create is false: the chart does not use them")
	}
}

func (im *importer) networkPolicy() {
	if truthy(im.get("networkPolicy.enabled")) {
		im.mapped("networkPolicy.enabled", "spec.networkPolicy.enabled",
			"the function's policy also limits egress to DNS, the cluster's own pods and the backup store: add other destinations your pods reach (sidecars, extraArgs) to spec.networkPolicy.extraEgress")
		return
	}
	im.spec.Spec.NetworkPolicy.Enabled = ptr(false)
	im.mapped("networkPolicy.enabled", "spec.networkPolicy.enabled", "")
}

// ---- TLS ----

func (im *importer) tls() {
	node := "config.tls.node."
	client := "config.tls.client."
	var t v1alpha1.TLSSpec
	if truthy(im.get(node + "enabled")) {
		t.Node = &v1alpha1.TLSConfig{}
		im.mapped(node+"enabled", "spec.tls.node", "")
		im.tlsSource(node, t.Node, "node")
		headless := im.fullname + "-headless"
		if v, ok := lookup(im.eff, node+"verifyServerName"); ok && str(v) == headless {
			im.mapped(node+"verifyServerName", "spec.tls.node", "the function verifies "+headless+" too")
		} else {
			im.unsupported(node+"verifyServerName",
				fmt.Sprintf("the chart's nodes verify peers' certificates against %q; the function's verify %q (-node-verify-server-name). During the rollout old and new nodes verify each other with both names", str(v), headless),
				fmt.Sprintf("before migrating, reissue the node certificate (Secret %s) with both DNS names, %s and %s (and *.%s), and let the pods pick it up; otherwise new nodes cannot talk to old ones",
					t.Node.SecretName, str(v), headless, headless))
		}
		if truthy(im.get(node + "mutual")) {
			t.Node.VerifyClient = true
			im.mapped(node+"mutual", "spec.tls.node.verifyClient", "")
		} else {
			im.consume(node + "mutual")
		}
		if truthy(im.get(node + "insecureSkipVerify")) {
			im.unsupported(node+"insecureSkipVerify", "the function always verifies node certificates", "issue node certificates that verify (see verifyServerName) before migrating")
		} else {
			im.consume(node + "insecureSkipVerify")
		}
	} else {
		im.unusedSubtree("config.tls.node", "config.tls.node.enabled is false: the chart does not use it")
	}
	if truthy(im.get(client + "enabled")) {
		t.Client = &v1alpha1.TLSConfig{}
		im.mapped(client+"enabled", "spec.tls.client", "")
		im.tlsSource(client, t.Client, "client")
		if truthy(im.get(client + "mutual")) {
			im.dropped(client+"mutual", "the chart 2.0.0 never passes -http-verify-client (rqlite issue 1508), so clients are not asked for certificates today; the import keeps it that way. "+
				"spec.tls.client.verifyClient would require them (and turn the probes into TCP checks): enable it in a separate change once every client presents a certificate")
		} else {
			im.consume(client + "mutual")
		}
	} else {
		im.unusedSubtree("config.tls.client", "config.tls.client.enabled is false: the chart does not use it")
	}
	if t.Node != nil || t.Client != nil {
		im.spec.Spec.TLS = &t
	}
}

// tlsSource maps where a certificate comes from. The function mounts one kubernetes.io/tls Secret
// with tls.crt, tls.key and ca.crt; the chart takes the CA from elsewhere and can inline PEMs.
func (im *importer) tlsSource(prefix string, cfg *v1alpha1.TLSConfig, side string) {
	secret := str(im.get(prefix + "secretName"))
	inline := truthy(im.get(prefix+"cert")) || truthy(im.get(prefix+"key"))
	if secret != "" {
		cfg.SecretName = secret
		im.mapped(prefix+"secretName", "spec.tls."+side+".secretName", "the Secret must also hold ca.crt, the CA of the peers' certificates: the function always passes one")
		for _, k := range []string{"cert", "key"} {
			if truthy(im.get(prefix + k)) {
				im.dropped(prefix+k, "the chart ignores it when secretName is set")
			} else {
				im.consume(prefix + k)
			}
		}
	} else {
		im.consume(prefix + "secretName")
		cfg.SecretName = im.fullname + "-" + side + "-tls"
		im.secrets = append(im.secrets, cfg.SecretName)
		var action string
		if side == "client" {
			// The chart keeps inline client PEMs in its Secret <fullname> as client.crt,
			// client.key and client-ca.crt: copy them from there, so no key passes through a
			// terminal or a file.
			ca := `.data["client-ca.crt"]`
			note := ""
			if !truthy(im.get(prefix+"ca")) && empty(im.get(prefix+"caSecretName")) {
				ca = `"<base64 of the CA certificate that signed tls.crt>"`
				note = "\nThe values name no CA: put the issuing CA's PEM, base64-encoded, where the command says (rqlited's -http-ca-cert needs one)."
			}
			action = fmt.Sprintf("create Secret %s from the chart's Secret %s before applying the render:\n"+
				"  %s get secret %s -o json | jq '{apiVersion: \"v1\", kind: \"Secret\", type: \"kubernetes.io/tls\", metadata: {name: \"%s\"}, data: {\"tls.crt\": .data[\"client.crt\"], \"tls.key\": .data[\"client.key\"], \"ca.crt\": %s}}' | %s create -f -%s",
				cfg.SecretName, im.fullname, im.kubectl(), im.fullname, cfg.SecretName, ca, im.kubectl(), note)
		} else {
			action = fmt.Sprintf("create Secret %s from the PEM files the values inline (the node certificate, its key and the CA that signed it) before applying the render:\n"+
				"  %s create secret generic %s --type=kubernetes.io/tls --from-file=tls.crt=node.crt --from-file=tls.key=node.key --from-file=ca.crt=ca.crt",
				cfg.SecretName, im.kubectl(), cfg.SecretName)
		}
		path := prefix + "cert"
		if !inline {
			path = prefix + "secretName"
			action = "the chart enabled TLS without a certificate; " + action
		}
		im.unsupported(path, "a certificate inlined in the values: the spec only references Secrets; the spec references Secret "+cfg.SecretName, action)
		if inline {
			im.add(Entry{Path: prefix + "key", Status: Unsupported, Reason: "inlined with " + prefix + "cert: see there"})
		}
	}
	// The CA: the function reads ca.crt from the same Secret.
	caSecret := str(im.get(prefix + "caSecretName"))
	switch {
	case caSecret != "" && caSecret != cfg.SecretName:
		im.unsupported(prefix+"caSecretName",
			fmt.Sprintf("the CA comes from Secret %s; the function reads ca.crt from the certificate's Secret %s (the spec has no separate CA Secret)", caSecret, cfg.SecretName),
			fmt.Sprintf("make sure Secret %s holds ca.crt with the CA of Secret %s (cert-manager's CA and self-signed issuers write it; otherwise add it: "+
				"%s patch secret %s -p \"{\\\"data\\\":{\\\"ca.crt\\\":\\\"$(%s get secret %s -o jsonpath='{.data.ca\\.crt}')\\\"}}\")",
				cfg.SecretName, caSecret, im.kubectl(), cfg.SecretName, im.kubectl(), caSecret))
	case caSecret != "":
		im.mapped(prefix+"caSecretName", "spec.tls."+side+".secretName", "the same Secret")
	default:
		im.consume(prefix + "caSecretName")
	}
	if truthy(im.get(prefix + "ca")) {
		if secret != "" {
			im.unsupported(prefix+"ca", "a CA inlined in the values; the function reads ca.crt from Secret "+cfg.SecretName,
				fmt.Sprintf("add the CA PEM to Secret %s as ca.crt before applying the render", cfg.SecretName))
		} else {
			im.add(Entry{Path: prefix + "ca", Status: Unsupported, Reason: "inlined with " + prefix + "cert: see there (it becomes ca.crt)"})
		}
	} else {
		im.consume(prefix + "ca")
	}
}

// unusedSubtree reports the values the user set below a switched-off feature. Keys the chart does
// not know are left for leftovers, which reports them as unknown.
func (im *importer) unusedSubtree(path, why string) {
	u, _ := lookup(im.user, path)
	um, ok := u.(map[string]any)
	if !ok {
		im.consume(path)
		return
	}
	for k, v := range um {
		p := path + "." + k
		def, known := schemaAt(p)
		switch {
		case !known:
		case isMap(v) && isMap(def) && !opaqueKeys[p]:
			im.unusedSubtree(p, why)
		case !empty(v) && differs(v, def):
			im.dropped(p, why)
		default:
			im.consume(p)
		}
	}
}

func isMap(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// ---- auth ----

// internalUser is the user the chart's nodes join as. Its password is in the chart's Secret
// <fullname>-internal, and the chart's users.json (Secret <fullname>) grants it "all"; reusing it
// keeps old and new nodes able to talk to each other throughout the rollout.
const internalUser = "_system_rqlite"

func (im *importer) auth() {
	users := im.get("config.users")
	if empty(users) {
		im.consume("config.users")
		return
	}
	secret := im.fullname + "-users"
	im.secrets = append(im.secrets, secret)
	im.spec.Spec.Auth = &v1alpha1.AuthSpec{
		UsersSecret: v1alpha1.SecretKeyRef{Name: secret, Key: model.UsersFile},
		JoinAs:      internalUser,
		ShrinkUser: &v1alpha1.Credentials{
			Username:       internalUser,
			PasswordSecret: v1alpha1.SecretKeyRef{Name: secret, Key: "password"},
		},
	}
	k := im.kubectl()
	im.unsupported("config.users",
		"passwords inlined in the values: the spec only references a users file in a Secret. The spec references Secret "+secret+
			" (users.json, and password: the password of "+internalUser+", the chart's internal user, which the nodes join as and the shrink Job acts as)",
		fmt.Sprintf("create Secret %[1]s from the chart's live Secrets before applying the render. It is the chart's users.json (your users and its internal ones, with the passwords in use) "+
			"plus the anonymous \"ready\" permission the function's probes need:\n"+
			"  %[2]s get secret %[3]s -o jsonpath='{.data.users\\.json}' | base64 -d | jq '. + [{\"username\": \"*\", \"perms\": [\"ready\"]}]' > users.json\n"+
			"  %[2]s create secret generic %[1]s --from-file=users.json=users.json --from-literal=password=\"$(%[2]s get secret %[3]s-internal -o jsonpath='{.data.rqlitePassword}' | base64 -d)\"\n"+
			"  rm users.json\n"+
			"Until it exists, the first restarted pod cannot start and the rollout stops there with the others serving.",
			secret, k, im.fullname))
}

// ---- backup ----

func (im *importer) backup() {
	const st, ab, ar = "config.backup.storage.", "config.backup.autoBackup.", "config.backup.autoRestore."
	backup := truthy(im.get(ab + "enabled"))
	restore := truthy(im.get(ar + "enabled"))
	if !backup {
		if restore {
			im.unsupported(ar+"enabled", "restore without backups: the spec's restore belongs to spec.backup, which also uploads",
				"enable config.backup.autoBackup too (then import again), or restore once by hand before migrating")
		}
		im.unusedSubtree("config.backup", "config.backup.autoBackup.enabled is false: the chart does not use it")
		return
	}
	b := &v1alpha1.BackupSpec{}
	s3 := &v1alpha1.S3Storage{
		Bucket: str(im.get(st + "bucket")),
		Region: str(im.get(st + "region")),
		Path:   str(im.get(st + "path")),
	}
	b.S3 = s3
	im.mapped(ab+"enabled", "spec.backup", "")
	im.mapped(st+"bucket", "spec.backup.s3.bucket", "")
	im.mapped(st+"region", "spec.backup.s3.region", "")
	im.mapped(st+"path", "spec.backup.s3.path", "")
	if ep := str(im.get(st + "endpoint")); ep != "" {
		// The chart assumes HTTPS when the endpoint has no scheme and writes it out.
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		s3.Endpoint = ep
		im.mapped(st+"endpoint", "spec.backup.s3.endpoint", "")
	} else {
		im.consume(st + "endpoint")
	}
	if truthy(im.get(st + "forcePathStyle")) {
		s3.ForcePathStyle = true
		im.mapped(st+"forcePathStyle", "spec.backup.s3.forcePathStyle", "")
	} else {
		im.consume(st + "forcePathStyle")
	}
	if truthy(im.get(st+"accessKeyId")) || truthy(im.get(st+"secretAccessKey")) {
		secret := im.fullname + "-backup"
		im.secrets = append(im.secrets, secret)
		s3.AccessKeyID = &v1alpha1.SecretKeyRef{Name: secret, Key: "access-key-id"}
		s3.SecretAccessKey = &v1alpha1.SecretKeyRef{Name: secret, Key: "secret-access-key"}
		k := im.kubectl()
		from := fmt.Sprintf("%s get secret %s -o jsonpath='{.data.backup\\.json}' | base64 -d | jq -r", k, im.fullname)
		im.unsupported(st+"accessKeyId", "credentials inlined in the values: the spec only references a Secret. The spec references Secret "+secret+" (keys access-key-id, secret-access-key)",
			fmt.Sprintf("create Secret %s from the chart's live Secret before applying the render:\n"+
				"  %s create secret generic %s --from-literal=access-key-id=\"$(%s .sub.access_key_id)\" --from-literal=secret-access-key=\"$(%s .sub.secret_access_key)\"",
				secret, k, secret, from, from))
		im.add(Entry{Path: st + "secretAccessKey", Status: Unsupported, Reason: "inlined with " + st + "accessKeyId: see there"})
	} else {
		im.consume(st+"accessKeyId", st+"secretAccessKey")
	}
	b.Interval = str(im.get(ab + "interval"))
	im.mapped(ab+"interval", "spec.backup.interval", "")
	if truthy(im.get(ab + "vacuum")) {
		b.Vacuum = true
		im.mapped(ab+"vacuum", "spec.backup.vacuum", "")
	} else {
		im.consume(ab + "vacuum")
	}
	if truthy(im.get(ab + "timestamp")) {
		b.Timestamp = true
		im.mapped(ab+"timestamp", "spec.backup.timestamp", "")
	} else {
		im.consume(ab + "timestamp")
	}
	if truthy(im.get(ab + "noCompress")) {
		b.Compress = ptr(false)
		im.mapped(ab+"noCompress", "spec.backup.compress", "inverted: compress: false")
	} else {
		im.consume(ab + "noCompress")
	}
	if restore {
		b.Restore = &v1alpha1.RestoreSpec{
			Enabled:           true,
			Timeout:           str(im.get(ar + "timeout")),
			ContinueOnFailure: truthy(im.get(ar + "continueOnFailure")),
		}
		im.mapped(ar+"enabled", "spec.backup.restore.enabled", "")
		im.mapped(ar+"timeout", "spec.backup.restore.timeout", "")
		if b.Restore.ContinueOnFailure {
			im.mapped(ar+"continueOnFailure", "spec.backup.restore.continueOnFailure", "")
		} else {
			im.consume(ar + "continueOnFailure")
		}
	} else {
		im.unusedSubtree("config.backup.autoRestore", "config.backup.autoRestore.enabled is false: the chart does not use it")
	}
	im.spec.Spec.Backup = b
}

// ---- everything else ----

// leftovers reports every value the user set that no mapping handled: keys the chart does not
// have (typos, values of another chart version) are never silently ignored.
func (im *importer) leftovers() {
	for _, p := range userPaths(im.user) {
		if im.covered(p) {
			continue
		}
		if _, known := schemaAt(p); known {
			im.unsupported(p, "import-helm does not handle this chart value", "report it; until then, carry it over by hand")
			continue
		}
		im.unsupported(p, fmt.Sprintf("not a value of the rqlite chart %s, so the release ignores it too (a typo, or a value of another chart version?)", ChartVersion),
			"check the spelling against the chart's values; nothing is carried over")
	}
}

// covered reports whether a path or one of its ancestors was handled.
func (im *importer) covered(p string) bool {
	for {
		if im.consumed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// ---- output ----

// encode writes the spec as YAML with a header naming its origin and the Secrets it needs.
func (im *importer) encode() ([]byte, error) {
	j, err := json.Marshal(im.spec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	prune(m, "")
	y, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if im.opts.SchemaRef != "" {
		fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n", im.opts.SchemaRef)
	}
	fmt.Fprintf(&b, "# Imported by `rqlite-fn import-helm` from the values of Helm release %q (chart %s %s) in namespace %q.\n",
		im.opts.Release, ChartName, ChartVersion, im.ns())
	if len(im.secrets) > 0 {
		fmt.Fprintf(&b, "# Create these Secrets first (the import report says how): %s\n", strings.Join(im.secrets, ", "))
	}
	b.WriteString("# Migration runbook: docs/helm-migration.md\n")
	b.Write(y)
	return b.Bytes(), nil
}

// prunable are the spec's own struct fields, which encoding/json writes even when empty. Values
// from the chart (affinity, env …) are left alone: an empty map there can mean something.
var prunable = map[string]bool{
	"spec.voters": true, "spec.readOnly": true, "spec.voters.scheduling": true, "spec.readOnly.scheduling": true,
	"spec.voters.probes": true, "spec.readOnly.probes": true, "spec.storage": true, "spec.storage.retentionPolicy": true,
	"spec.service": true, "spec.recovery": true, "spec.networkPolicy": true, "spec.shrink": true,
	"spec.serviceAccount": true, "metadata": true, "spec": true,
}

func prune(m map[string]any, path string) {
	for k, v := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		sub, ok := v.(map[string]any)
		if !ok || !prunable[p] {
			continue
		}
		prune(sub, p)
		if len(sub) == 0 {
			delete(m, k)
		}
	}
}

func ptr[T any](v T) *T { return &v }
