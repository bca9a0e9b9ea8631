package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/rqlite/rqlite-krm/schema"
)

func init() {
	Commands["schema"] = Command{
		Summary: "print the RqliteSpec schema (--format json: JSON Schema for editors; openapi: a CRD's openAPIV3Schema)",
		Run:     runSchema,
	}
}

func runSchema(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	format := "json"
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			fmt.Fprintln(stdout, "usage: rqlite-fn schema [--format json|openapi]")
			return 0
		case a == "--format" && i+1 < len(args):
			i++
			format = args[i]
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		default:
			fmt.Fprintln(stderr, "usage: rqlite-fn schema [--format json|openapi]")
			return 2
		}
	}
	var b []byte
	switch format {
	case "json":
		b = schema.JSON
	case "openapi":
		b = schema.OpenAPI
	default:
		fmt.Fprintf(stderr, "rqlite-fn schema: --format must be json or openapi, not %q\n", format)
		return 2
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "rqlite-fn schema: %v\n", err)
		return 1
	}
	return 0
}
