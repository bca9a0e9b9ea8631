package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rqlite/rqlite-krm/fn/manifestimport"
)

func init() {
	Commands["import-manifests"] = Command{
		Summary: "turn a running cluster's Service/StatefulSet manifests (rqlite's Kubernetes guide) into the RqliteSpec that adopts them; report on stderr",
		Run:     runImportManifests,
	}
}

const importManifestsUsage = `usage: rqlite-fn import-manifests FILE... [--namespace NS] [--cluster-domain DOMAIN] [--report text|json]

Reads the manifests of a cluster built from rqlite's Kubernetes guide (service.yaml and
statefulset-*.yaml, a hand-edited variant, or kubectl get -o yaml of them; - reads stdin) and
writes the RqliteSpec that adopts them in place (naming: kubernetes-configuration) to stdout, with
a report on stderr: every setting kept, mapped, replaced by the function's own, dropped,
unsupported, or in conflict with an in-place update.

Exit status: 0 imported; 3 imported, but the report lists unsupported settings or actions to take
before applying; 1 a conflict, unreadable manifests or a spec that does not validate (nothing is
written to stdout; the report says why); 2 usage.
`

func runImportManifests(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts := manifestimport.Options{}
	fs := newFlagSet("import-manifests")
	fs.StringVar(&opts.Namespace, "namespace", "", "the cluster's namespace when the manifests do not name it (the guide's do not)")
	fs.StringVar(&opts.Namespace, "n", "", "short for --namespace")
	fs.StringVar(&opts.ClusterDomain, "cluster-domain", "", "the cluster's DNS domain when it is not cluster.local")
	format := fs.String("report", "text", "report format: text or json")
	files, code, ok := parseArgs(fs, importManifestsUsage, args, argCount{min: 1, max: -1, missing: "no manifest file"}, stdout, stderr)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		return usageError(stderr, fs, importManifestsUsage, "--report takes text or json")
	}
	var docs [][]byte
	for _, f := range files {
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn import-manifests: %v\n", err)
			return importFailed
		}
		docs = append(docs, b)
	}
	if _, err := os.Stat(schemaFile); err == nil {
		opts.SchemaRef = filepath.ToSlash(schemaFile)
	}
	res, err := manifestimport.Import(opts, docs...)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn import-manifests: %v\n", err)
		if errors.Is(err, manifestimport.ErrNoNamespace) {
			return importUsage
		}
		return importFailed
	}
	// Half a result does more harm than none: a conflict or an invalid spec writes nothing.
	failed := res.Problems.HasErrors() || len(res.Report.Conflicts()) > 0
	if !failed {
		if _, err := stdout.Write(res.YAML); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn import-manifests: %v\n", err)
			return importFailed
		}
	}
	if *format == "json" {
		err = res.Report.WriteJSON(stderr)
	} else {
		err = res.Report.WriteText(stderr)
	}
	if err != nil {
		return importFailed
	}
	switch {
	case failed:
		fmt.Fprintln(stderr, "rqlite-fn import-manifests: no spec written: the render could not take over these objects in place (see conflict and error above)")
		return importFailed
	case len(res.Report.Unsupported()) > 0 || len(res.Report.Actions()) > 0:
		return importToReview
	}
	return importOK
}
