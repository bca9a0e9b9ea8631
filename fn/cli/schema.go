package cli

import (
	"fmt"
	"io"

	"github.com/rqlite/rqlite-krm/schema"
)

func init() {
	Commands["schema"] = Command{
		Summary: "print the RqliteSpec schema (--format json: JSON Schema for editors; openapi: a CRD's openAPIV3Schema)",
		Run:     runSchema,
	}
}

const schemaUsage = `usage: rqlite-fn schema [--format json|openapi]

Prints the RqliteSpec schema: JSON Schema for editors (json), or a structural schema usable as a
CRD's openAPIV3Schema (openapi).
`

func runSchema(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("schema")
	format := fs.String("format", "json", "json or openapi")
	if _, code, ok := parseArgs(fs, schemaUsage, args, noArgs, stdout, stderr); !ok {
		return code
	}
	var b []byte
	switch *format {
	case "json":
		b = schema.JSON
	case "openapi":
		b = schema.OpenAPI
	default:
		return usageError(stderr, fs, schemaUsage, fmt.Sprintf("--format must be json or openapi, not %q", *format))
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "rqlite-fn schema: %v\n", err)
		return 1
	}
	return 0
}
