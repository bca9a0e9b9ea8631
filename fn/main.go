// Command rqlite-fn is the rqlite-krm function. Without arguments it is a KRM function (a
// ResourceList on stdin, one on stdout) for kustomize, kpt and Argo CD; with a subcommand it is a
// CLI for people and for the Jobs it generates.
package main

import (
	"os"

	"github.com/rqlite/rqlite-krm/fn/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
