package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rqlite/rqlite-krm/fn/helmimport"
)

func init() {
	Commands["import-helm"] = Command{
		Summary: "turn a Helm release's values (rqlite chart 2.0.0) into the RqliteSpec that adopts it; report on stderr",
		Run:     runImportHelm,
	}
}

// Exit codes of import-helm. A spec that needs the user's decision is still written, but a script
// must be able to tell it from a clean import.
const (
	importOK       = 0
	importFailed   = 1
	importUsage    = 2
	importToReview = 3
)

// schemaFile is where the spec's JSON Schema lives in a checkout of this repository (or a
// configuration repository that vendors it); the emitted spec points editors at it when present.
const schemaFile = "schema/rqlitespec.schema.json"

const importHelmUsage = `usage: rqlite-fn import-helm VALUES.yaml... --namespace NS [--release NAME] [--cluster-domain DOMAIN] [--report text|json]

Writes the RqliteSpec equivalent to the rqlite Helm chart (2.0.0) release with these values to
stdout, and a report to stderr: every chart value is mapped, replaced by the function's own
behaviour, dropped, or unsupported with the reason and what to do instead. Several values files
merge in order, as with helm -f; - reads stdin.

Exit status: 0 imported; 3 imported, but the report lists unsupported values or actions to take
before applying; 1 the values cannot be read or the imported spec does not validate (nothing is
written to stdout; the report says why); 2 usage.
Then follow docs/helm-migration.md.
`

func runImportHelm(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts := helmimport.Options{}
	fs := newFlagSet("import-helm")
	fs.StringVar(&opts.Namespace, "namespace", "", "the release's namespace (required: the chart's nodes advertise fully qualified Raft addresses that name it)")
	fs.StringVar(&opts.Namespace, "n", "", "short for --namespace")
	fs.StringVar(&opts.Release, "release", "", "the release name (default rqlite)")
	fs.StringVar(&opts.ClusterDomain, "cluster-domain", "", "the cluster's DNS domain when it is not cluster.local")
	format := fs.String("report", "text", "report format: text or json")
	files, code, ok := parseArgs(fs, importHelmUsage, args, argCount{min: 1, max: -1, missing: "no values file"}, stdout, stderr)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		return usageError(stderr, fs, importHelmUsage, "--report takes text or json")
	}
	if opts.Namespace == "" {
		return usageError(stderr, fs, importHelmUsage, "--namespace is required: "+helmimport.ErrNoNamespace.Error())
	}
	var values [][]byte
	for _, f := range files {
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn import-helm: %v\n", err)
			return importFailed
		}
		values = append(values, b)
	}
	if _, err := os.Stat(schemaFile); err == nil {
		opts.SchemaRef = filepath.ToSlash(schemaFile)
	}
	res, err := helmimport.Import(opts, values...)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn import-helm: %v\n", err)
		if errors.Is(err, helmimport.ErrNoNamespace) {
			return importUsage
		}
		return importFailed
	}
	// A spec that does not validate is not written at all: redirected into a file that a
	// pipeline applies, half a result does more harm than none. The report says why.
	failed := res.Problems.HasErrors()
	if !failed {
		if _, err := stdout.Write(res.YAML); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn import-helm: %v\n", err)
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
		fmt.Fprintln(stderr, "rqlite-fn import-helm: no spec written: the imported spec has the errors listed above")
		return importFailed
	case len(res.Report.Unsupported()) > 0 || len(res.Report.Actions()) > 0:
		return importToReview
	}
	return importOK
}
