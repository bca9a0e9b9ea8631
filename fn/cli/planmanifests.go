package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/manifestimport"
	"github.com/rqlite/rqlite-krm/fn/plan"
	"github.com/rqlite/rqlite-krm/fn/render"
)

// planManifests is `plan --manifests`: existing manifests, not rendered by the function, against
// the render of the spec that adopts them.
func planManifests(files []string, specPath, output string, stdout, stderr io.Writer) int {
	doc, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
		return planInvalid
	}
	res := generate.FromYAML(doc)
	for _, p := range res.Problems {
		sev := "error"
		if p.Warning {
			sev = "warning"
		}
		fmt.Fprintf(stderr, "%s: [%s] %s\n", specPath, sev, p)
	}
	if res.Problems.HasErrors() {
		return planInvalid
	}
	ns := ""
	for _, o := range res.Objects {
		ns = o.GetNamespace()
	}
	var docs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid
		}
		docs = append(docs, b)
	}
	sets, svcs, other, err := manifestimport.Objects(ns, docs...)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
		return planInvalid
	}
	for _, o := range other {
		fmt.Fprintf(stderr, "rqlite-fn plan: %s is not compared (only Services and StatefulSets are)\n", o)
	}
	var existing []render.Object
	for _, s := range svcs {
		existing = append(existing, s)
	}
	for _, s := range sets {
		existing = append(existing, s)
	}
	rep, err := plan.CompareManifests(existing, res.Objects)
	if err != nil {
		fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
		return planInvalid
	}
	if output == "json" {
		b, err := rep.JSON()
		if err == nil {
			_, err = stdout.Write(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid
		}
	} else {
		fmt.Fprintf(stdout, "Plan %v → %s\n", files, specPath)
		if err := rep.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "rqlite-fn plan: %v\n", err)
			return planInvalid
		}
	}
	if rep.Breaking() {
		return planBreaking
	}
	return planSafe
}
