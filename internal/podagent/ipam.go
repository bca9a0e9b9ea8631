package podagent

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
)

// The node's own address (DNS server, hostIP) is the last usable one of the block; pods get
// .1 to .253.
const (
	// serviceRangeOctet keeps published pod IPs (10.a.b.n) out of the control plane's Service
	// range, 10.96.0.0/16.
	serviceRangeOctet = 96

	nodeHost  = 254
	firstHost = 1
	lastHost  = 253
)

// ipam hands out pod IPs from one 127.a.b.0/24 block, the way a CNI plugin's host-local IPAM
// does: an address belongs to one pod incarnation (one Pod UID) and returns to the pool when
// that pod's sandbox is torn down. Freed addresses are reused last, so a recreated pod almost
// always gets a new address, as it would in a real cluster.
type ipam struct {
	block [2]byte
	mu    sync.Mutex
	free  []int // FIFO: never used first, then least recently freed
	owner map[int]string
}

// newIPAM picks a random block whose well-known ports are free. Random blocks keep concurrent
// test binaries (which cannot coordinate) apart; 127.0.x.y is left to the rest of the machine.
func newIPAM(ports []int) (*ipam, error) {
	for range 50 {
		b := [2]byte{byte(16 + rand.IntN(239)), byte(1 + rand.IntN(254))}
		if b[0] == serviceRangeOctet {
			continue
		}
		if blockFree(b, ports) {
			ip := &ipam{block: b, owner: map[int]string{}}
			for h := firstHost; h <= lastHost; h++ {
				ip.free = append(ip.free, h)
			}
			return ip, nil
		}
	}
	return nil, errors.New("no free 127.a.b.0/24 block for pods")
}

func blockFree(b [2]byte, ports []int) bool {
	host := func(h int) string { return fmt.Sprintf("127.%d.%d.%d", b[0], b[1], h) }
	// DNS needs both UDP and TCP 53 on the node address.
	if !tcpFree(host(nodeHost), 53) || !udpFree(host(nodeHost), 53) {
		return false
	}
	for h := firstHost; h <= lastHost; h += 16 {
		for _, p := range ports {
			if !tcpFree(host(h), p) {
				return false
			}
		}
	}
	return true
}

func tcpFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func udpFree(host string, port int) bool {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (p *ipam) addr(h int) string { return fmt.Sprintf("127.%d.%d.%d", p.block[0], p.block[1], h) }

func (p *ipam) nodeIP() string { return p.addr(nodeHost) }

// published is the address a pod's status carries for its loopback address 127.a.b.n: 10.a.b.n.
// The API server refuses loopback addresses in Endpoints and EndpointSlices ("may not be in the
// loopback range"), so without a stand-in no Service would ever list a pod. Nothing listens on
// the 10.x address; the agent's DNS maps endpoint addresses back with local.
func published(ip string) string {
	if rest, ok := strings.CutPrefix(ip, "127."); ok {
		return "10." + rest
	}
	return ip
}

// local undoes published for any 10.a.b.n (with a != 96), whichever agent published it.
func local(ip string) string {
	rest, ok := strings.CutPrefix(ip, "10.")
	if !ok || strings.HasPrefix(rest, strconv.Itoa(serviceRangeOctet)+".") {
		return ip
	}
	return "127." + rest
}

func (p *ipam) allocate(owner string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return "", fmt.Errorf("pod address block 127.%d.%d.0/24 is exhausted", p.block[0], p.block[1])
	}
	h := p.free[0]
	p.free = p.free[1:]
	p.owner[h] = owner
	return p.addr(h), nil
}

func (p *ipam) release(ip string) {
	parsed := net.ParseIP(ip).To4()
	if parsed == nil || parsed[0] != 127 || parsed[1] != p.block[0] || parsed[2] != p.block[1] {
		return
	}
	h := int(parsed[3])
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.owner[h]; !ok {
		return
	}
	delete(p.owner, h)
	p.free = append(p.free, h)
}
