package krm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// The KRM contract types and the ResourceList codec of the function's hot path. They follow the
// kpt functions SDK (github.com/kptdev/krm-functions-sdk/go/fn) field for field and byte for byte:
// the SDK is the reference implementation in the tests (bench/equivalence_test.go runs both on the
// same inputs and compares the bytes), but the binary does not link it. The SDK reads and writes
// through kyaml, whose import graph (kube-openapi, gnostic, protobuf) was 5.7 MB of the 19.2 MB
// binary and 1.65 ms of its start-up, and it parsed every generated object back from YAML only to
// write it again, two thirds of the time of a spec (docs/benchmarks.md).

// Severity is how bad a result is.
type Severity string

// The severities of the KRM function specification.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Result is one entry of ResourceList.results.
type Result struct {
	Message     string            `yaml:"message,omitempty" json:"message,omitempty"`
	Severity    Severity          `yaml:"severity,omitempty" json:"severity,omitempty"`
	ResourceRef *ResourceRef      `yaml:"resourceRef,omitempty" json:"resourceRef,omitempty"`
	Field       *Field            `yaml:"field,omitempty" json:"field,omitempty"`
	File        *File             `yaml:"file,omitempty" json:"file,omitempty"`
	Tags        map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// ResourceRef names the object a result is about.
type ResourceRef struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	Namespace  string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
}

// Field is the field of the object a result is about, and the value that would fix it.
type Field struct {
	Path          string `yaml:"path,omitempty" json:"path,omitempty"`
	CurrentValue  any    `yaml:"currentValue,omitempty" json:"currentValue,omitempty"`
	ProposedValue any    `yaml:"proposedValue,omitempty" json:"proposedValue,omitempty"`
}

// File is the file of the object a result is about.
type File struct {
	Path  string `yaml:"path,omitempty" json:"path,omitempty"`
	Index int    `yaml:"index,omitempty" json:"index,omitempty"`
}

// String is the one-line form people read, "[severity] apiVersion/kind/namespace/name field:
// message", the format kpt and the SDK print.
func (r Result) String() string {
	var b strings.Builder
	sev := r.Severity
	if sev == "" {
		sev = Info
	}
	b.WriteString("[" + string(sev) + "]")
	if ref := r.ResourceRef; ref != nil {
		var id []string
		for _, s := range []string{ref.APIVersion, ref.Kind, ref.Namespace, ref.Name} {
			if s != "" {
				id = append(id, s)
			}
		}
		if len(id) > 0 {
			b.WriteString(" " + strings.Join(id, "/"))
		}
	}
	if r.Field != nil {
		b.WriteString(" " + r.Field.Path)
	}
	b.WriteString(": " + r.Message)
	return b.String()
}

// Results is ResourceList.results.
type Results []*Result

// ResourceList is the function's input and output.
type ResourceList struct {
	Items []*Object
	// FunctionConfig is nil when the input has none (or an empty one).
	FunctionConfig *Object
	Results        Results
}

// Object is one KRM resource: a YAML mapping read from the input, or an object the function
// generated, kept as the bytes it will be written as.
type Object struct {
	// node is the mapping of an object read from the input (or of a generated object the fast
	// writer could not write).
	node *yaml.Node
	// item is a generated object written as an element of `items:` ("- " and the mapping at
	// indent 2), with annotations its annotations for the accessors.
	item        []byte
	apiVersion  string
	kind        string
	name        string
	namespace   string
	annotations map[string]string
}

// ParseResourceList reads a ResourceList as the SDK's fn.ParseResourceList does: an empty input
// is an empty list, anything else must be one YAML document of kind ResourceList whose items are
// mappings.
func ParseResourceList(in []byte) (*ResourceList, error) {
	rl := &ResourceList{}
	if len(bytes.TrimSpace(in)) == 0 {
		return rl, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(in))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("failed to parse ResourceList: %w", err)
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
			continue
		}
		docs = append(docs, &doc)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("expected exactly one object, got %d", len(docs))
	}
	root := docs[0]
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("a ResourceList must be a mapping, not a %s", kindName(root))
	}
	list := &Object{node: root}
	if k := list.Kind(); k != "ResourceList" {
		return nil, fmt.Errorf("input was of unexpected kind %q; expected ResourceList", k)
	}
	if k := repeatedKey(root); k != "" {
		return nil, fmt.Errorf("the ResourceList sets %s twice", k)
	}
	if fc := lookup(root, "functionConfig"); fc != nil {
		if fc.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("functionConfig must be a mapping, not a %s", kindName(fc))
		}
		if len(fc.Content) > 0 {
			rl.FunctionConfig = &Object{node: fc}
		}
	}
	if items := lookup(root, "items"); items != nil {
		if items.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("items must be a sequence, not a %s", kindName(items))
		}
		for i, it := range items.Content {
			if it.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("item %d must be a mapping, not a %s", i, kindName(it))
			}
			rl.Items = append(rl.Items, &Object{node: it})
		}
	}
	// Results of an earlier function are kept, in either of the forms kpt has written.
	res := lookup(root, "results")
	if res != nil && res.Kind == yaml.MappingNode {
		res = lookup(res, "items")
	}
	if res != nil && res.Kind == yaml.SequenceNode {
		if err := res.Decode(&rl.Results); err != nil {
			return nil, fmt.Errorf("failed to decode results: %w", err)
		}
	}
	return rl, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// lookup is the value of key in mapping m, nil if there is none.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (o *Object) scalar(path ...string) string {
	n := o.node
	for _, p := range path {
		n = lookup(n, p)
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// APIVersion is the object's apiVersion.
func (o *Object) APIVersion() string {
	if o.node == nil {
		return o.apiVersion
	}
	return o.scalar("apiVersion")
}

// Kind is the object's kind.
func (o *Object) Kind() string {
	if o.node == nil {
		return o.kind
	}
	return o.scalar("kind")
}

// Name is metadata.name.
func (o *Object) Name() string {
	if o.node == nil {
		return o.name
	}
	return o.scalar("metadata", "name")
}

// Namespace is metadata.namespace.
func (o *Object) Namespace() string {
	if o.node == nil {
		return o.namespace
	}
	return o.scalar("metadata", "namespace")
}

// Annotation is one annotation, "" when it is not set.
func (o *Object) Annotation(key string) string {
	if o.node == nil {
		return o.annotations[key]
	}
	return o.scalar("metadata", "annotations", key)
}

// Annotations are all annotations with string values.
func (o *Object) Annotations() map[string]string {
	out := map[string]string{}
	if o.node == nil {
		for k, v := range o.annotations {
			out[k] = v
		}
		return out
	}
	a := lookup(lookup(o.node, "metadata"), "annotations")
	if a == nil || a.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		if v := a.Content[i+1]; v.Kind == yaml.ScalarNode {
			out[a.Content[i].Value] = v.Value
		}
	}
	return out
}

// PathAnnotation is the file the object is read from and written to under kpt.
func (o *Object) PathAnnotation() string { return o.Annotation(pathAnnotation) }

// IsLocalConfig reports the config.kubernetes.io/local-config annotation, as the SDK reads it.
func (o *Object) IsLocalConfig() bool {
	v := o.Annotation(localConfig)
	return v != "" && v != "false"
}

// String is the object as YAML.
func (o *Object) String() string {
	if o.node == nil {
		// A generated object: the item without its "- " and indentation.
		lines := strings.SplitAfter(string(o.item), "\n")
		var b strings.Builder
		for i, l := range lines {
			if i == 0 {
				b.WriteString(strings.TrimPrefix(l, "- "))
			} else {
				b.WriteString(strings.TrimPrefix(l, "  "))
			}
		}
		return b.String()
	}
	out, err := encodeNodes(o.node)
	if err != nil {
		return ""
	}
	return string(out)
}

// encodeNodes writes nodes as one YAML document the way kyaml does: indent 2, sequences in
// mappings not indented.
func encodeNodes(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	e.CompactSeqIndent()
	if err := e.Encode(n); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeItem writes an item read from the input as an element of `items:`, as the SDK does.
func encodeItem(it *Object) ([]byte, error) {
	b, err := encodeNodes(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{stringNode("items"), {Kind: yaml.SequenceNode, Content: []*yaml.Node{it.node}}}})
	if err != nil {
		return nil, fmt.Errorf("writing %s %s: %w", it.Kind(), it.Name(), err)
	}
	b, ok := bytes.CutPrefix(b, []byte("items:\n"))
	if !ok {
		return nil, fmt.Errorf("writing %s %s: unexpected encoding %.40q", it.Kind(), it.Name(), b)
	}
	return b, nil
}

func stringNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// listHeader is how every ResourceList starts; items follow it.
const listHeader = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"

// sortKey is the order the SDK sorts items in before writing them.
func (o *Object) sortKey() string {
	return o.APIVersion() + " " + o.Kind() + " " + o.Namespace() + " " + o.Name()
}

type byID struct {
	items []*Object
	keys  []string
}

func (s byID) Len() int           { return len(s.items) }
func (s byID) Less(i, j int) bool { return s.keys[i] < s.keys[j] }
func (s byID) Swap(i, j int) {
	s.items[i], s.items[j] = s.items[j], s.items[i]
	s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
}

// Sort orders the items by apiVersion, kind, namespace and name. It is sort.Sort, not a stable
// sort, on purpose: the SDK sorts that way, and objects with the same identity must end up in the
// same order as there.
func (rl *ResourceList) Sort() {
	keys := make([]string, len(rl.Items))
	for i, it := range rl.Items {
		keys[i] = it.sortKey()
	}
	sort.Sort(byID{rl.Items, keys})
}

// Encode writes the ResourceList as the SDK's ResourceList.ToYAML does: items sorted, then the
// functionConfig and the results; no items key when there are none.
//
// Items are written one at a time: go-yaml's emitter keeps every event of a document until the
// document ends, so one encoder for a whole package of 1,000 specs held gigabytes (bench/).
func (rl *ResourceList) Encode() ([]byte, error) {
	rl.Sort()
	var out []byte
	if len(rl.Items) > 0 {
		size := 64
		for _, it := range rl.Items {
			size += len(it.item)
			if it.node != nil {
				size += 512 // a guess; items read from the input are mostly specs
			}
		}
		// Items read from the input (the specs of a kpt package) go through go-yaml, on every CPU.
		encoded := make([][]byte, len(rl.Items))
		errs := make([]error, len(rl.Items))
		parallel(len(rl.Items), func(i int) {
			if it := rl.Items[i]; it.node != nil {
				encoded[i], errs[i] = encodeItem(it)
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out = make([]byte, 0, size)
		out = append(out, listHeader+"items:\n"...)
		for i, it := range rl.Items {
			if it.node == nil {
				out = append(out, it.item...)
			} else {
				out = append(out, encoded[i]...)
			}
		}
	} else {
		out = append(out, listHeader...)
	}
	rest := &yaml.Node{Kind: yaml.MappingNode}
	if rl.FunctionConfig != nil && rl.FunctionConfig.node != nil && len(rl.FunctionConfig.node.Content) > 0 {
		rest.Content = append(rest.Content, stringNode("functionConfig"), rl.FunctionConfig.node)
	}
	if len(rl.Results) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range rl.Results {
			n, err := resultNode(r)
			if err != nil {
				return nil, err
			}
			seq.Content = append(seq.Content, n)
		}
		rest.Content = append(rest.Content, stringNode("results"), seq)
	}
	if len(rest.Content) == 0 {
		return out, nil
	}
	b, err := encodeNodes(rest)
	if err != nil {
		return nil, fmt.Errorf("writing functionConfig and results: %w", err)
	}
	return append(out, b...), nil
}

// resultNode converts a result the way the SDK does, through JSON, so that the keys come out
// sorted and the field names are the JSON ones.
func resultNode(r *Result) (*yaml.Node, error) {
	j, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding result %q: %w", r.Message, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("encoding result %q: %w", r.Message, err)
	}
	var n yaml.Node
	if err := n.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding result %q: %w", r.Message, err)
	}
	sortFields(&n)
	return &n, nil
}

// sortFields orders every mapping as the SDK orders a result's: the fields kyaml knows come
// first, in kyaml's precedence (name, namespace, apiVersion, kind, …), the others after them by
// name.
func sortFields(n *yaml.Node) {
	for _, c := range n.Content {
		sortFields(c)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	pairs := make(fieldPairs, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		pairs = append(pairs, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	sort.Sort(pairs)
	n.Content = n.Content[:0]
	for _, p := range pairs {
		n.Content = append(n.Content, p[0], p[1])
	}
}

type fieldPairs [][2]*yaml.Node

func (p fieldPairs) Len() int      { return len(p) }
func (p fieldPairs) Swap(i, j int) { p[i], p[j] = p[j], p[i] }
func (p fieldPairs) Less(i, j int) bool {
	a, b := p[i][0].Value, p[j][0].Value
	ai, aok := fieldOrder()[a]
	bi, bok := fieldOrder()[b]
	switch {
	case aok && bok:
		return ai < bi
	case aok || bok:
		return aok
	}
	return a < b
}

// fieldOrder is kyaml's precedence of well-known Kubernetes fields (sigs.k8s.io/kustomize/kyaml
// yaml.FieldOrder), which the SDK sorts results by. A name listed twice takes its later place.
var fieldOrder = sync.OnceValue(func() map[string]int {
	order := map[string]int{}
	for i, f := range strings.Fields(`name generateName namespace clusterName apiVersion kind metadata type
		labels annotations spec status stringData data binaryData parallelism completions
		activeDeadlineSeconds backoffLimit replicas selector manualSelector template
		ttlSecondsAfterFinished volumeClaimTemplates service serviceName podManagementPolicy
		updateStrategy strategy minReadySeconds revision revisionHistoryLimit paused
		progressDeadlineSeconds restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds
		dnsPolicy serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork
		hostPID hostIPC shareProcessNamespace hostname subdomain schedulerName priorityClassName
		priority runtimeClassName enableServiceLinks nodeSelector hostAliases initContainers
		containers volumes securityContext imagePullSecrets affinity tolerations dnsConfig
		readinessGates image command args workingDir ports envFrom env resources volumeMounts
		volumeDevices livenessProbe readinessProbe lifecycle terminationMessagePath
		terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty clusterIP
		externalIPs loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy
		sessionAffinity protocol port targetPort hostPort containerPort hostIP readOnly mountPath
		subPath subPathExpr mountPropagation value valueFrom fieldRef resourceFieldRef
		configMapKeyRef secretKeyRef prefix configMapRef secretRef`) {
		order[f] = i + 1
	}
	return order
})
