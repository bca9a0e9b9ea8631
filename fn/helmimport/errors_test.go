package helmimport_test

import (
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/helmimport"
)

func TestImportRefusesABadClusterDomain(t *testing.T) {
	for _, d := range []string{"x$(id)", "Cluster.Local", "-bad", "a..b"} {
		if _, err := helmimport.Import(helmimport.Options{Namespace: "db", ClusterDomain: d}, []byte("replicaCount: 3\n")); err == nil || !strings.Contains(err.Error(), "cluster domain") {
			t.Errorf("--cluster-domain %q: err %v, want a cluster domain error", d, err)
		}
	}
	if _, err := helmimport.Import(helmimport.Options{Namespace: "db", ClusterDomain: "k8s.example.org"}, []byte("replicaCount: 3\n")); err != nil {
		t.Errorf("a real domain must import: %v", err)
	}
}

// A negative read-only count renders no pool in the chart; the import says so instead of
// treating it as "no pool" in silence.
func TestImportReportsANegativeReadOnlyCount(t *testing.T) {
	res, err := helmimport.Import(helmimport.Options{Namespace: "db"}, []byte("replicaCount: 3\nreadonly:\n  replicaCount: -2\n  nodeSelector: {pool: ro}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := res.Report.Entry("readonly.replicaCount")
	if !ok || e.Status != helmimport.Unsupported || !strings.Contains(e.Reason, "-2 is negative") || e.Action == "" {
		t.Errorf("readonly.replicaCount entry %+v (found %v), want unsupported with an action", e, ok)
	}
	if e, ok := res.Report.Entry("readonly.nodeSelector"); !ok || e.Status != helmimport.Dropped {
		t.Errorf("readonly.nodeSelector entry %+v (found %v), want dropped: there is no pool", e, ok)
	}
	if res.Spec.Spec.ReadOnly != nil {
		t.Errorf("the spec has a read-only pool: %+v", res.Spec.Spec.ReadOnly)
	}
}
