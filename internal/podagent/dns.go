package podagent

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// dnsTTL is CoreDNS's default for cluster records.
const dnsTTL = 5

// clusterDNS answers the cluster's DNS names the way CoreDNS's kubernetes plugin does, from the
// API server's Services and EndpointSlices (as the controller manager fills them):
//
// Endpoint addresses are pods' published addresses (10.a.b.n) and are answered as the loopback
// addresses the pods really listen on (127.a.b.n).
//
//   - <svc>.<ns>.svc.<domain>, headless: the addresses of the endpoints whose ready condition is
//     true (for a Service with publishNotReadyAddresses the EndpointSlice controller marks every
//     pod ready, so not-ready pods are included, as in a real cluster);
//   - <svc>.<ns>.svc.<domain> with a ClusterIP: the same ready endpoint addresses instead of the
//     ClusterIP, because there is no kube-proxy to route the ClusterIP. Clients connect to a pod
//     directly on the Service's port (which works when port and targetPort agree);
//   - <hostname>.<svc>.<ns>.svc.<domain>: endpoints of a headless Service carrying that hostname
//     (StatefulSet pods: hostname = pod name, subdomain = serviceName);
//   - ExternalName Services: a CNAME.
//
// Only A (and CNAME) records exist: AAAA gets an empty answer for a name that exists, SRV and PTR
// are not served. Names outside the cluster domain are NXDOMAIN: there is no upstream.
type clusterDNS struct {
	domain    string
	services  *watchCache[*corev1.Service]
	slices    *watchCache[*discoveryv1.EndpointSlice]
	udp       net.PacketConn
	tcp       net.Listener
	wg        sync.WaitGroup
	closeOnce sync.Once

	overMu    sync.Mutex
	overrides map[string]netip.Addr // "<ns>/<hostname>" -> address answered instead (SlowLink)
}

// override makes the hostname records of one pod answer ip; the zero Addr removes the override.
func (d *clusterDNS) override(ns, hostname string, ip netip.Addr) {
	d.overMu.Lock()
	defer d.overMu.Unlock()
	key := strings.ToLower(ns + "/" + hostname)
	if !ip.IsValid() {
		delete(d.overrides, key)
		return
	}
	if d.overrides == nil {
		d.overrides = map[string]netip.Addr{}
	}
	d.overrides[key] = ip
}

func (d *clusterDNS) overridden(ns, hostname string) (netip.Addr, bool) {
	d.overMu.Lock()
	defer d.overMu.Unlock()
	ip, ok := d.overrides[ns+"/"+hostname]
	return ip, ok
}

func startDNS(addr, domain string, services *watchCache[*corev1.Service], slices *watchCache[*discoveryv1.EndpointSlice]) (*clusterDNS, error) {
	d := &clusterDNS{domain: strings.Trim(strings.ToLower(domain), "."), services: services, slices: slices}
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		// The UDP socket's address, so that port 0 (tests) gives both the same port; a TCP port
		// that happens to be taken just means another try.
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			d.udp, d.tcp = udp, tcp
			break
		}
		udp.Close()
		if port != "0" || attempt == 20 {
			return nil, err
		}
	}
	d.wg.Add(2)
	go d.serveUDP()
	go d.serveTCP()
	return d, nil
}

func (d *clusterDNS) close() {
	d.closeOnce.Do(func() {
		d.udp.Close()
		d.tcp.Close()
		d.wg.Wait()
	})
}

func (d *clusterDNS) serveUDP() {
	defer d.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := d.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp := d.answer(buf[:n], 512)
		if resp != nil {
			_, _ = d.udp.WriteTo(resp, from)
		}
	}
}

func (d *clusterDNS) serveTCP() {
	defer d.wg.Done()
	for {
		c, err := d.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go d.serveConn(c)
	}
}

func (d *clusterDNS) serveConn(c net.Conn) {
	defer c.Close()
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		resp := d.answer(msg, 65535)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answer builds the reply to one query message; nil means "drop it" (not parseable).
func (d *clusterDNS) answer(req []byte, limit int) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	ednsSize := 0
	if err := p.SkipAllQuestions(); err == nil {
		if err := p.SkipAllAnswers(); err == nil {
			if err := p.SkipAllAuthorities(); err == nil {
				for {
					ah, err := p.AdditionalHeader()
					if err != nil {
						break
					}
					if ah.Type == dnsmessage.TypeOPT {
						ednsSize = int(ah.Class)
					}
					if p.SkipAdditional() != nil {
						break
					}
				}
			}
		}
	}
	if ednsSize > limit {
		limit = ednsSize
	}
	// Authoritative and RecursionAvailable: Go's resolver treats an empty, non-authoritative
	// answer without recursion as a lame referral and gives up on the name.
	rh := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	var ips []netip.Addr
	var cname string
	switch {
	case h.OpCode != 0:
		rh.RCode = dnsmessage.RCodeNotImplemented
	case q.Class != dnsmessage.ClassINET:
		rh.RCode = dnsmessage.RCodeRefused
	default:
		var exists bool
		ips, cname, exists = d.resolve(strings.ToLower(q.Name.String()))
		if !exists {
			rh.RCode = dnsmessage.RCodeNameError
		}
	}
	build := func(truncate bool) ([]byte, error) {
		hh := rh
		hh.Truncated = truncate
		b := dnsmessage.NewBuilder(make([]byte, 0, 512), hh)
		b.EnableCompression()
		if err := b.StartQuestions(); err != nil {
			return nil, err
		}
		if err := b.Question(q); err != nil {
			return nil, err
		}
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		if !truncate {
			rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: dnsTTL}
			switch {
			case cname != "" && (q.Type == dnsmessage.TypeCNAME || q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeAAAA):
				target, err := dnsmessage.NewName(cname)
				if err != nil {
					return nil, err
				}
				if err := b.CNAMEResource(rr, dnsmessage.CNAMEResource{CNAME: target}); err != nil {
					return nil, err
				}
			case q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL:
				for _, ip := range ips {
					if err := b.AResource(rr, dnsmessage.AResource{A: ip.As4()}); err != nil {
						return nil, err
					}
				}
			}
		}
		if ednsSize > 0 {
			if err := b.StartAdditionals(); err != nil {
				return nil, err
			}
			var opt dnsmessage.OPTResource
			rr := dnsmessage.ResourceHeader{}
			if err := rr.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
				return nil, err
			}
			if err := b.OPTResource(rr, opt); err != nil {
				return nil, err
			}
		}
		return b.Finish()
	}
	out, err := build(false)
	if err != nil {
		return nil
	}
	if len(out) > limit {
		if out, err = build(true); err != nil {
			return nil
		}
	}
	return out
}

// resolve maps a lower-case, fully qualified query name to addresses. exists=false is NXDOMAIN.
func (d *clusterDNS) resolve(fqdn string) (ips []netip.Addr, cname string, exists bool) {
	name := strings.TrimSuffix(fqdn, ".")
	if name == d.domain {
		return nil, "", true
	}
	rest, ok := strings.CutSuffix(name, "."+d.domain)
	if !ok {
		return nil, "", false
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	if n == 0 || labels[n-1] != "svc" {
		return nil, "", false
	}
	switch n {
	case 1: // svc.<domain>
		return nil, "", true
	case 2: // <ns>.svc.<domain>
		return nil, "", true
	case 3: // <svc>.<ns>.svc.<domain>
		svc, ok := d.services.get(labels[1], labels[0])
		if !ok {
			return nil, "", false
		}
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			return nil, strings.TrimSuffix(svc.Spec.ExternalName, ".") + ".", true
		}
		return d.endpointIPs(labels[1], labels[0], ""), "", true
	case 4: // <hostname>.<svc>.<ns>.svc.<domain>
		svc, ok := d.services.get(labels[2], labels[1])
		if !ok || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			return nil, "", false
		}
		if ip, ok := d.overridden(labels[2], labels[0]); ok {
			return []netip.Addr{ip}, "", true
		}
		ips := d.endpointIPs(labels[2], labels[1], labels[0])
		return ips, "", len(ips) > 0
	}
	return nil, "", false
}

// endpointIPs lists the ready IPv4 endpoint addresses of a Service, optionally only those with
// the given hostname, de-duplicated and sorted (CoreDNS's order is not specified either).
func (d *clusterDNS) endpointIPs(ns, svc, hostname string) []netip.Addr {
	list := d.slices.listAll(func(s *discoveryv1.EndpointSlice) bool {
		return s.Namespace == ns && s.Labels[discoveryv1.LabelServiceName] == svc
	})
	var out []netip.Addr
	for _, s := range list {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if hostname != "" && (ep.Hostname == nil || strings.ToLower(*ep.Hostname) != hostname) {
				continue
			}
			for _, a := range ep.Addresses {
				if ip, err := netip.ParseAddr(local(a)); err == nil && ip.Is4() {
					out = append(out, ip)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}
