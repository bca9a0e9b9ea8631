package podagent

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDNSOverride: SlowLink's override replaces one pod's hostname record in one namespace and
// nothing else, and removing it restores the endpoint address.
func TestDNSOverride(t *testing.T) {
	services := fixedCache(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "rqlite-headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}})
	slices_ := fixedCache(slice("db", "rqlite-headless", ep("10.50.1.1", "rqlite-0", true), ep("10.50.1.2", "rqlite-1", true)))
	d, err := startDNS("127.0.0.1:0", "cluster.local", services, slices_)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.udp.LocalAddr().String())
	}}
	lookup := func(name string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		slices.Sort(addrs)
		return addrs
	}
	check := func(when, name string, want ...string) {
		t.Helper()
		if got := lookup(name); !slices.Equal(got, want) {
			t.Errorf("%s: %s = %v, want %v", when, name, got, want)
		}
	}
	d.override("db", "rqlite-1", netip.MustParseAddr("127.50.1.200"))
	check("overridden", "rqlite-1.rqlite-headless.db.svc.cluster.local", "127.50.1.200")
	check("overridden", "rqlite-0.rqlite-headless.db.svc.cluster.local", "127.50.1.1")
	// The Service's own record lists endpoints: discovery is not redirected, only the pod's name.
	check("overridden", "rqlite-headless.db.svc.cluster.local", "127.50.1.1", "127.50.1.2")
	d.override("db", "rqlite-1", netip.Addr{})
	check("restored", "rqlite-1.rqlite-headless.db.svc.cluster.local", "127.50.1.2")
}

// TestCopyThrottled: the relay delivers every byte unchanged, no faster than the rate beyond
// its one-chunk burst. Only a lower bound is asserted: a loaded machine makes it slower, never
// faster.
func TestCopyThrottled(t *testing.T) {
	const rate, size = 64 << 10, 48 << 10
	in := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	var out bytes.Buffer
	start := time.Now()
	n, err := copyThrottled(&out, bytes.NewReader(in), rate)
	took := time.Since(start)
	if err != nil || n != size || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("copied %d bytes (%v), equal %t", n, err, bytes.Equal(out.Bytes(), in))
	}
	if floor := time.Duration(float64(size-4096)/rate*float64(time.Second)) * 9 / 10; took < floor {
		t.Errorf("%d bytes at %d bytes/s took %v, less than %v", size, rate, took, floor)
	}
}
