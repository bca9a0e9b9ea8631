package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/rqlite/rqlite-krm/fn/krm"
	"github.com/rqlite/rqlite-krm/fn/verify"
	"sigs.k8s.io/yaml"
)

func init() {
	Commands["verify"] = Command{
		Summary: "check the cross-references of rendered clusters (FILE..., - or stdin; a ResourceList on stdin makes it a KRM validator)",
		Run:     runVerify,
	}
}

// runVerify exits 0 when every reference holds, 1 when one is broken or no cluster was found,
// and 2 when the input cannot be read. Findings go to stdout, one line each, so they can be
// diffed and grepped; in KRM mode they go to stderr, which is what kustomize shows.
const verifyUsage = `usage: rqlite-fn verify [--] [FILE...]

Checks every rqlite-krm cluster in a rendered stream (the files, or stdin with no FILE or -): every
reference between its objects (selectors, serviceName, ConfigMap and ServiceAccount references,
the names in rqlited's arguments, peers.json) and every promise the README makes about them
(docs/verify.md). Findings go to stdout, one line each. A ResourceList on stdin makes it a KRM
validator: the input comes back unchanged when every check holds.

exit 0: every check holds; 1: a finding, or no rqlite-krm object at all; 2: usage or unreadable input
`

func runVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args, code, ok := parseArgs(newFlagSet("verify"), verifyUsage, args, anyFiles, stdout, stderr)
	if !ok {
		return code
	}
	if len(args) == 0 {
		args = []string{"-"}
	}
	var docs []map[string]any
	for _, a := range args {
		var data []byte
		var err error
		if a == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(a)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn verify: %v\n", err)
			return 2
		}
		if a == "-" && len(args) == 1 && isResourceList(data) {
			return verifyResourceList(data, stdout, stderr)
		}
		d, err := verify.Decode(data)
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn verify: %s: %v\n", a, err)
			return 2
		}
		docs = append(docs, d...)
	}
	rep := verify.Check(docs)
	if len(rep.Clusters) == 0 {
		fmt.Fprintf(stdout, "%v\n", verify.ErrNoCluster)
		return 1
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(stdout, "%d broken reference(s) in %d cluster(s)\n", len(rep.Problems), len(rep.Clusters))
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d cluster(s), %d object(s), every reference consistent\n", len(rep.Clusters), rep.Objects)
	return 0
}

func isResourceList(data []byte) bool {
	var head struct {
		Kind string `json:"kind"`
	}
	return yaml.Unmarshal(data, &head) == nil && head.Kind == "ResourceList"
}

// verifyResourceList is the validator form (kustomize `validators:`, kpt validators). On success
// it writes its input back byte for byte: kustomize rejects a validator whose output differs from
// its input in any way, and re-encoding would reorder items and fields.
func verifyResourceList(data []byte, stdout, stderr io.Writer) int {
	rl, err := krm.ParseResourceList(data)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn verify: stdin is not a valid ResourceList: %v\n", err)
		return 2
	}
	docs := make([]map[string]any, 0, len(rl.Items))
	for _, it := range rl.Items {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(it.String()), &m); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn verify: item %s %s: %v\n", it.Kind(), it.Name(), err)
			return 2
		}
		docs = append(docs, m)
	}
	rep := verify.Check(docs)
	if rep.OK() {
		if _, err := stdout.Write(data); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn verify: %v\n", err)
			return 1
		}
		return 0
	}
	if len(rep.Clusters) == 0 {
		rl.Results = append(rl.Results, &krm.Result{Severity: krm.Error, Message: verify.ErrNoCluster.Error()})
	}
	for _, p := range rep.Problems {
		rl.Results = append(rl.Results, &krm.Result{
			Severity:    krm.Error,
			Message:     p.Field + " -> " + p.To.String() + ": " + p.Message,
			ResourceRef: &krm.ResourceRef{Kind: p.From.Kind, Name: p.From.Name, Namespace: p.From.Namespace},
		})
	}
	if out, err := rl.Encode(); err == nil {
		_, _ = stdout.Write(out)
	}
	if len(rep.Clusters) == 0 {
		fmt.Fprintln(stderr, "rqlite-fn verify:", verify.ErrNoCluster)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "rqlite-fn verify:", p)
	}
	return 1
}
