// Command gen writes the published schemas (schema/rqlitespec.schema.json and
// schema/rqlitespec.openapi.yaml) from the Go types; `go generate ./fn/schema` runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rqlite/rqlite-krm/fn/schema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := schema.APISourceDir()
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "..", "..", "..", "schema")
	files, err := schema.Files()
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
