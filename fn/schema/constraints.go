package schema

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Patterns shared by Go tests and the schema. They are written in the common subset of RE2 and
// ECMA-262, since editors evaluate JSON Schema patterns as JavaScript regular expressions.
const (
	// DNS1035Label is what validation.IsDNS1035Label accepts (length aside).
	DNS1035Label = `^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// DNS1123Label is what validation.IsDNS1123Label accepts (length aside).
	DNS1123Label = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// DNS1123Subdomain is what validation.IsDNS1123Subdomain accepts (length aside).
	DNS1123Subdomain = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// Quantity is what resource.ParseQuantity accepts, the pattern Kubernetes CRDs use.
	Quantity = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`
	// noControl is a character that is not a control character (unicode.IsControl: C0, DEL, C1).
	noControl = `[^\x00-\x1f\x7f-\x9f]`
	// boolValue is what strconv.ParseBool, and so Go's flag package, accepts for a switch.
	boolValue = `(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)`
)

// Constraint narrows a field beyond its Go type. Each one mirrors a rule of v1alpha1.Validate
// (TestConstraintsMatchValidation checks that the two agree), so an editor flags what the function
// would refuse.
type Constraint struct {
	Enum       []string
	Minimum    *int64
	Maximum    *int64
	MinLength  *int64
	MaxLength  *int64
	Pattern    string
	NotPattern string
	// Items applies the constraint to the elements of a list instead of the list.
	Items bool
}

// FieldKey names a field by the struct that declares it and its JSON name.
type FieldKey struct {
	Type  reflect.Type
	Field string
}

func key[T any](field string) FieldKey { return FieldKey{reflect.TypeFor[T](), field} }

func i64(v int64) *int64 { return &v }

// orEmpty also allows "", for fields where an empty string has a meaning of its own: no
// namespace, or no StorageClass (static provisioning).
func orEmpty(pattern string) string { return "^$|" + pattern }

// FieldConstraints are the per-field rules. Types reached through several paths (ProbeOverride,
// TopologySpreadConstraint) carry the rule wherever they appear, as Validate applies it there.
var FieldConstraints = map[FieldKey]Constraint{
	key[metav1.TypeMeta]("apiVersion"):                          {Enum: []string{v1alpha1.APIVersion}},
	key[metav1.TypeMeta]("kind"):                                {Enum: []string{v1alpha1.Kind}},
	key[v1alpha1.ObjectMeta]("name"):                            {Pattern: DNS1035Label, MinLength: i64(1), MaxLength: i64(v1alpha1.MaxNameLength)},
	key[v1alpha1.ObjectMeta]("namespace"):                       {Pattern: orEmpty(DNS1123Label), MaxLength: i64(63)},
	key[v1alpha1.ClusterSpec]("imagePullPolicy"):                {Enum: []string{string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)}},
	key[v1alpha1.ClusterSpec]("clusterDomain"):                  {Pattern: DNS1123Subdomain, MaxLength: i64(253)},
	key[v1alpha1.VoterPool]("replicas"):                         {Minimum: i64(1), Maximum: i64(v1alpha1.MaxVoters)},
	key[v1alpha1.ReadOnlyPool]("replicas"):                      {Minimum: i64(0)},
	key[v1alpha1.Autoscaling]("minReplicas"):                    {Minimum: i64(1)},
	key[v1alpha1.Autoscaling]("maxReplicas"):                    {Minimum: i64(1)},
	key[v1alpha1.Autoscaling]("targetCPUUtilizationPercentage"): {Minimum: i64(1), Maximum: i64(100)},
	key[v1alpha1.Pool]("extraArgs"):                             {Items: true, Pattern: ExtraArg()},
	key[v1alpha1.ProbeOverride]("initialDelaySeconds"):          {Minimum: i64(0)},
	key[v1alpha1.ProbeOverride]("periodSeconds"):                {Minimum: i64(1)},
	key[v1alpha1.ProbeOverride]("timeoutSeconds"):               {Minimum: i64(1)},
	key[v1alpha1.ProbeOverride]("failureThreshold"):             {Minimum: i64(1)},
	key[v1alpha1.ProbeOverride]("successThreshold"):             {Minimum: i64(1)},
	key[v1alpha1.Storage]("storageClassName"):                   {Pattern: orEmpty(DNS1123Subdomain), MaxLength: i64(253)},
	key[v1alpha1.RetentionPolicy]("whenDeleted"):                {Enum: []string{"Retain", "Delete"}},
	key[v1alpha1.RetentionPolicy]("whenScaled"):                 {Enum: []string{"Retain", "Delete"}},
	key[v1alpha1.ServiceSpec]("type"):                           {Enum: []string{string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort), string(corev1.ServiceTypeLoadBalancer)}},
	key[v1alpha1.IssuerRef]("kind"):                             {Enum: []string{"Issuer", "ClusterIssuer"}},
	key[corev1.TopologySpreadConstraint]("maxSkew"):             {Minimum: i64(1)},
	key[corev1.TopologySpreadConstraint]("topologyKey"):         {MinLength: i64(1)},
}

// ExclusiveFields are sets of fields of one object that may not all be set at once.
var ExclusiveFields = map[reflect.Type][][]string{
	reflect.TypeFor[v1alpha1.ReadOnlyPool](): {{"replicas", "autoscaling"}},
}

// NotRequired are fields without omitempty that may still be left out: Default or Validate treat
// the zero value as "unset" there. Every other field without omitempty (and not a pointer, list or
// map) is required, the Kubernetes API convention.
var NotRequired = map[FieldKey]bool{
	key[v1alpha1.RqliteSpec]("spec"): true,
}

// TypeEnums are the values of Kubernetes' string enums, wherever the type appears.
var TypeEnums = map[reflect.Type][]string{
	reflect.TypeFor[corev1.PullPolicy]():                    {string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)},
	reflect.TypeFor[corev1.TaintEffect]():                   {string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute)},
	reflect.TypeFor[corev1.TolerationOperator]():            {string(corev1.TolerationOpExists), string(corev1.TolerationOpEqual)},
	reflect.TypeFor[corev1.NodeSelectorOperator]():          {string(corev1.NodeSelectorOpIn), string(corev1.NodeSelectorOpNotIn), string(corev1.NodeSelectorOpExists), string(corev1.NodeSelectorOpDoesNotExist), string(corev1.NodeSelectorOpGt), string(corev1.NodeSelectorOpLt)},
	reflect.TypeFor[metav1.LabelSelectorOperator]():         {string(metav1.LabelSelectorOpIn), string(metav1.LabelSelectorOpNotIn), string(metav1.LabelSelectorOpExists), string(metav1.LabelSelectorOpDoesNotExist)},
	reflect.TypeFor[corev1.UnsatisfiableConstraintAction](): {string(corev1.DoNotSchedule), string(corev1.ScheduleAnyway)},
	reflect.TypeFor[corev1.NodeInclusionPolicy]():           {string(corev1.NodeInclusionPolicyHonor), string(corev1.NodeInclusionPolicyIgnore)},
	reflect.TypeFor[corev1.Protocol]():                      {string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)},
	reflect.TypeFor[corev1.URIScheme]():                     {string(corev1.URISchemeHTTP), string(corev1.URISchemeHTTPS)},
	reflect.TypeFor[corev1.MountPropagationMode]():          {string(corev1.MountPropagationNone), string(corev1.MountPropagationHostToContainer), string(corev1.MountPropagationBidirectional)},
	reflect.TypeFor[corev1.TerminationMessagePolicy]():      {string(corev1.TerminationMessageReadFile), string(corev1.TerminationMessageFallbackToLogsOnError)},
	reflect.TypeFor[corev1.SeccompProfileType]():            {string(corev1.SeccompProfileTypeUnconfined), string(corev1.SeccompProfileTypeRuntimeDefault), string(corev1.SeccompProfileTypeLocalhost)},
	reflect.TypeFor[corev1.AppArmorProfileType]():           {string(corev1.AppArmorProfileTypeUnconfined), string(corev1.AppArmorProfileTypeRuntimeDefault), string(corev1.AppArmorProfileTypeLocalhost)},
}

// TaintEffect and TolerationOperator may also be "": an empty effect matches every effect and an
// empty operator means Equal, and the API server accepts both written out.
var emptyAllowed = map[reflect.Type]bool{
	reflect.TypeFor[corev1.TaintEffect]():        true,
	reflect.TypeFor[corev1.TolerationOperator](): true,
}

// ExtraArg matches an extraArgs item that Validate accepts in some position: a flag rqlited has
// and rqlite-krm leaves to the user, in any form Go's flag package reads ("-name", "--name",
// "-name=value"; a switch only with a boolean value), or the value of the flag before it (any
// text not starting with '-'). Whether a value item really follows a flag that takes one, whether
// such a flag has its value, and duplicates depend on the neighbours, which a schema for one item
// cannot see: Validate alone checks those.
func ExtraArg() string {
	var switches, valued []string
	for _, n := range v1alpha1.AllowedFlags() {
		if v1alpha1.RqlitedFlags[n].TakesValue() {
			valued = append(valued, regexp.QuoteMeta(n))
		} else {
			switches = append(switches, regexp.QuoteMeta(n))
		}
	}
	return `^(|[^-\x00-\x1f\x7f-\x9f]` + noControl + `*` +
		`|--?(` + strings.Join(switches, "|") + `)(=` + boolValue + `)?` +
		`|--?(` + strings.Join(valued, "|") + `)(=` + noControl + `*)?)$`
}

// probeName marks defaults derived from the cluster name (e.g. a TLS Secret name): those are not
// constants and are left out.
const probeName = "schema-probe-name"

// Defaults returns the defaults v1alpha1.Default fills in, by field. They are found by running
// Default on specs where every optional object of the API is present but empty, so a new default
// shows up in the schema without a table to keep in step. Left out: a field that gets different
// defaults in different places (the key of a SecretKeyRef), and a default that follows another
// field (found by changing each defaulted field in turn and watching the others).
func Defaults() map[FieldKey]any {
	variants := []func(*v1alpha1.RqliteSpec){
		func(*v1alpha1.RqliteSpec) {},
		// readOnly.replicas defaults to 0 only without autoscaling.
		func(s *v1alpha1.RqliteSpec) { s.Spec.ReadOnly.Autoscaling = nil },
	}
	out := map[FieldKey]any{}
	conflict := map[FieldKey]bool{}
	for _, variant := range variants {
		probeDefaults(variant, out, conflict)
	}
	for k := range conflict {
		delete(out, k)
	}
	dependent := map[FieldKey]bool{}
	for k, v := range out {
		changed := map[FieldKey]any{}
		for _, variant := range variants {
			probeDefaults(func(s *v1alpha1.RqliteSpec) {
				variant(s)
				perturb(reflect.ValueOf(s).Elem(), k, v)
			}, changed, map[FieldKey]bool{})
		}
		for other, ov := range out {
			if cv, ok := changed[other]; other != k && (!ok || !reflect.DeepEqual(cv, ov)) {
				dependent[other] = true
			}
		}
	}
	for k := range dependent {
		delete(out, k)
	}
	return out
}

func probeDefaults(variant func(*v1alpha1.RqliteSpec), out map[FieldKey]any, conflict map[FieldKey]bool) {
	probe := &v1alpha1.RqliteSpec{}
	allocate(reflect.ValueOf(probe).Elem())
	probe.Metadata.Name = probeName
	variant(probe)
	collectDefaults(tree(probe), tree(v1alpha1.Default(probe)), reflect.TypeFor[v1alpha1.RqliteSpec](), out, conflict)
}

// perturb sets the field k, wherever its struct appears, to a value other than its default v.
func perturb(v reflect.Value, k FieldKey, def any) {
	t := v.Type()
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := v.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if t == k.Type && name == k.Field {
			setOther(f, def)
			continue
		}
		switch {
		case f.Kind() == reflect.Struct:
			perturb(f, k, def)
		case f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Struct:
			perturb(f.Elem(), k, def)
		}
	}
}

func setOther(f reflect.Value, def any) {
	if f.Kind() == reflect.Pointer {
		if f.Type().Elem().Kind() == reflect.Struct {
			return // quantities and other structured values are not perturbed
		}
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString("schema-probe-other")
	case reflect.Bool:
		b, _ := def.(bool)
		f.SetBool(!b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, _ := def.(float64)
		f.SetInt(int64(n) + 7)
	}
}

var apiPkg = reflect.TypeFor[v1alpha1.RqliteSpec]().PkgPath()

// allocate fills every nil pointer to a struct of the API package, recursively.
func allocate(v reflect.Value) {
	t := v.Type()
	if t.Kind() != reflect.Struct || t.PkgPath() != apiPkg && !isInlineTypeMeta(t) {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if !t.Field(i).IsExported() {
			continue
		}
		switch ft := t.Field(i).Type; {
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && ft.Elem().PkgPath() == apiPkg:
			f.Set(reflect.New(ft.Elem()))
			allocate(f.Elem())
		case ft.Kind() == reflect.Struct:
			allocate(f)
		}
	}
}

func isInlineTypeMeta(t reflect.Type) bool { return t == reflect.TypeFor[metav1.TypeMeta]() }

func tree(s *v1alpha1.RqliteSpec) map[string]any {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // RqliteSpec always encodes
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// collectDefaults records the scalars Default added or changed, walking the structs of the API.
func collectDefaults(before, after map[string]any, t reflect.Type, out map[FieldKey]any, conflict map[FieldKey]bool) {
	for _, f := range structFields(t) {
		v, ok := after[f.json]
		if !ok || v == nil {
			continue
		}
		ft := deref(f.typ)
		switch x := v.(type) {
		case map[string]any:
			if ft.Kind() == reflect.Struct && ft.PkgPath() == apiPkg {
				b, _ := before[f.json].(map[string]any)
				collectDefaults(b, x, ft, out, conflict)
			}
		case []any:
		default:
			if reflect.DeepEqual(before[f.json], x) {
				continue
			}
			if s, ok := x.(string); ok && strings.Contains(s, probeName) {
				continue
			}
			k := FieldKey{f.declaredIn, f.json}
			if prev, seen := out[k]; seen && !reflect.DeepEqual(prev, x) {
				conflict[k] = true
			}
			out[k] = x
		}
	}
}
