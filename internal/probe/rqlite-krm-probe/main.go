// Command rqlite-krm-probe prints a probe.Report on stderr and then execs its first argument with
// the remaining ones, so the probed program runs exactly as it would have.
//
//	ENTRYPOINT ["/rqlite-krm-probe", "/usr/local/bin/rqlite-fn"]
package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/rqlite/rqlite-krm/internal/probe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rqlite-krm-probe PROGRAM [ARG...]")
		os.Exit(2)
	}
	r, err := probe.Collect(os.Args[2:])
	if err != nil {
		// Still run the program: a probe that changes the outcome would prove nothing.
		fmt.Fprintf(os.Stderr, "rqlite-krm-probe: %v\n", err)
	}
	os.Stderr.WriteString(r.Line())
	err = syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "rqlite-krm-probe: exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}
