package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testdata = "../testdata"

// specCase is one RqliteSpec document for the single-spec benchmarks.
type specCase struct {
	name string
	doc  []byte
}

// specCases span what the issue asks about: the smallest cluster, the largest overlay, the voter
// cap (to show that cost does not grow with the voter count) and every option at once.
func specCases(tb testing.TB) []specCase {
	tb.Helper()
	three := readSpec(tb, "three-voters.yaml")
	ninetyNine := strings.Replace(string(three), "replicas: 3", "replicas: 99", 1)
	if ninetyNine == string(three) {
		tb.Fatal("three-voters.yaml no longer says replicas: 3; update the 99-voter case")
	}
	return []specCase{
		{"voters=3", three},
		{"voters=9", readSpec(tb, "nine-voters.yaml")},
		{"voters=99", []byte(ninetyNine)},
		{"every-option", readSpec(tb, "every-option.yaml")},
	}
}

func readSpec(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "specs", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// resourceList is what kpt hands the function for a package of n specs: every spec an item with
// its own name and file, no functionConfig. Distinct names matter: the function refuses two specs
// for the same cluster, and the upsert works per name.
func resourceList(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
	for i := range n {
		name := fmt.Sprintf("rqlite-%04d", i)
		fmt.Fprintf(&b, `- apiVersion: rqlite.io/v1alpha1
  kind: RqliteSpec
  metadata:
    name: %[1]s
    namespace: rqlite
    annotations:
      config.kubernetes.io/local-config: "true"
      internal.config.kubernetes.io/path: %[1]s.yaml
      config.kubernetes.io/path: %[1]s.yaml
  spec:
    voters:
      replicas: 3
`, name)
	}
	return []byte(b.String())
}

// kustomizeResourceList is what kustomize hands a generator: the spec as functionConfig and again
// among the items. This is the input of one `kustomize build` of the base.
func kustomizeResourceList(tb testing.TB) []byte {
	tb.Helper()
	spec, err := os.ReadFile(filepath.Join("..", "base", "spec", "rqlite.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var body []string
	for _, l := range strings.Split(strings.TrimRight(string(spec), "\n"), "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		body = append(body, l)
	}
	fc := "  " + strings.Join(body, "\n  ") + "\n"
	item := "- " + strings.Join(body, "\n  ") + "\n"
	return []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n" + fc + "items:\n" + item)
}
