package podagent

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func fixedCache[T object](items ...T) *watchCache[T] {
	c := newWatchCache[T]("test", nil, nil, handlers[T]{}, func(string, ...any) {})
	for _, o := range items {
		c.items[types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}] = o
	}
	return c
}

func slice(ns, svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

func ep(ip, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

// TestClusterDNS queries the server with Go's own resolver, as rqlited and rqlite-fn do.
func TestClusterDNS(t *testing.T) {
	svc := func(name, clusterIP string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: name}, Spec: corev1.ServiceSpec{ClusterIP: clusterIP}}
	}
	ext := svc("ext", "")
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.org"
	services := fixedCache(svc("rqlite", "10.96.0.20"), svc("rqlite-headless", corev1.ClusterIPNone), svc("empty", "10.96.0.21"), ext)
	slices_ := fixedCache(
		// Published addresses (10.x) come back as the loopback addresses pods listen on.
		slice("db", "rqlite-headless", ep("10.50.1.1", "rqlite-0", true), ep("10.50.1.2", "rqlite-1", true), ep("10.50.1.3", "rqlite-2", false)),
		slice("db", "rqlite", ep("10.50.1.1", "", true), ep("10.50.1.2", "", false)),
	)
	d, err := startDNS("127.0.0.1:0", "cluster.local", services, slices_)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for _, network := range []string{"udp", "tcp"} {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, network, d.udp.LocalAddr().String())
		}}
		lookup := func(name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			addrs, err := r.LookupHost(ctx, name)
			slices.Sort(addrs)
			return addrs, err
		}
		for name, want := range map[string][]string{
			"rqlite-headless.db.svc.cluster.local":          {"127.50.1.1", "127.50.1.2"},
			"rqlite-headless.db.svc.cluster.local.":         {"127.50.1.1", "127.50.1.2"},
			"RQLITE-0.rqlite-headless.db.svc.cluster.local": {"127.50.1.1"},
			"rqlite.db.svc.cluster.local":                   {"127.50.1.1"},
		} {
			got, err := lookup(name)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s %s: %v, %v; want %v", network, name, got, err, want)
			}
		}
		for _, name := range []string{
			"rqlite-2.rqlite-headless.db.svc.cluster.local", // not ready
			"rqlite-9.rqlite-headless.db.svc.cluster.local",
			"nope.db.svc.cluster.local",
			"rqlite.other.svc.cluster.local",
			"example.com",
			"empty.db.svc.cluster.local",
		} {
			got, err := lookup(name)
			var dnsErr *net.DNSError
			if err == nil || !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				t.Errorf("%s %s: %v, %v; want not found", network, name, got, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cname, err := r.LookupCNAME(ctx, "ext.db.svc.cluster.local")
		cancel()
		if err != nil || cname != "example.org." {
			t.Errorf("%s ExternalName: %q, %v", network, cname, err)
		}
	}
}
