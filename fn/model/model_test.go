package model_test

import (
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/model"
)

func cluster(t *testing.T, naming v1alpha1.NamingStyle, namespace string) *model.Cluster {
	t.Helper()
	s := &v1alpha1.RqliteSpec{Metadata: v1alpha1.ObjectMeta{Name: "db", Namespace: namespace}}
	s.Spec.Naming = naming
	s.Spec.ClusterDomain = "example.org"
	s.Spec.Voters.Replicas = new(int32(3))
	return model.New(s)
}

// The Raft address in peers.json is the advertised argument as the kubelet expands it in the
// pod, in either layout: that is what lets verify compare them without knowing the layout.
func TestRaftAddressIsTheExpandedArgument(t *testing.T) {
	for _, tc := range []struct {
		naming       v1alpha1.NamingStyle
		arg, address string
	}{
		{v1alpha1.NamingDefault, "$(POD_NAME).db-headless:4002", "db-1.db-headless:4002"},
		{v1alpha1.NamingHelmChart, "$(POD_NAME).db-headless.$(POD_NAMESPACE).svc.example.org:4002", "db-1.db-headless.shop.svc.example.org:4002"},
	} {
		c := cluster(t, tc.naming, "shop")
		if got := c.RaftAdvertiseArg(&c.Voters); got != tc.arg {
			t.Errorf("%s: -raft-adv-addr=%s, want %s", tc.naming, got, tc.arg)
		}
		pod := c.Voters.PodName(1)
		if got := c.RaftAddress(&c.Voters, pod); got != tc.address {
			t.Errorf("%s: address %s, want %s", tc.naming, got, tc.address)
		}
		if got := model.ExpandPodArg(c.RaftAdvertiseArg(&c.Voters), pod, "shop"); got != tc.address {
			t.Errorf("%s: expanded argument %s, want %s", tc.naming, got, tc.address)
		}
	}
}

func TestBootstrapExpect(t *testing.T) {
	for _, tc := range []struct {
		voters   int32
		recovery bool
		want     int32
	}{{3, false, 3}, {3, true, 4}, {1, true, 2}} {
		if got := model.BootstrapExpect(tc.voters, tc.recovery); got != tc.want {
			t.Errorf("BootstrapExpect(%d, %v) = %d, want %d", tc.voters, tc.recovery, got, tc.want)
		}
	}
}
