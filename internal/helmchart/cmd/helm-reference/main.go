// Command helm-reference compares internal/helmchart's facts about the rqlite Helm chart 2.0.0
// with real `helm template` renders (`make helm-reference HELM_REFERENCE=dir`), or with
// -write-values writes the values files such a directory is rendered from and prints the helm
// commands that render it. It is not part of `make test`: the tests use the facts alone.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rqlite/rqlite-krm/internal/helmchart"
)

func main() {
	writeValues := flag.Bool("write-values", false, "write DIR/values/*.yaml and print the helm commands that render DIR")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: helm-reference [-write-values] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if *writeValues {
		cmds, err := helmchart.WriteValues(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helm-reference:", err)
			os.Exit(1)
		}
		for _, c := range cmds {
			fmt.Println(c)
		}
		return
	}
	diffs, err := helmchart.Check(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-reference:", err)
		os.Exit(1)
	}
	for _, d := range diffs {
		fmt.Println(d)
	}
	if len(diffs) > 0 {
		fmt.Fprintf(os.Stderr, "helm-reference: %d fact(s) differ from the renders in %s\n", len(diffs), dir)
		os.Exit(1)
	}
	fmt.Printf("helm-reference: the facts of %d cases and %d chart defaults match the renders in %s\n", len(helmchart.Cases), len(helmchart.Defaults), dir)
}
