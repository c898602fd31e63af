package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Resolver looks up a host's addresses. *net.Resolver implements it; tests
// inject a fake so that names such as "rebind.example" resolve to loopback
// without touching the network.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialFunc dials one vetted address ("ip:port").
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// guardedDialer resolves the host itself, refuses the addresses the guard
// blocks and dials the remaining ones as IP literals. Resolving here,
// rather than letting net.Dialer do it, means the addresses checked are the
// addresses dialed: there is no second lookup a rebinding DNS server could
// answer differently. The net.Dialer's Control hook checks once more, on
// the socket address the kernel is asked to connect to, so no path (a
// literal in the URL, a future change to this code) reaches connect(2)
// unchecked.
type guardedDialer struct {
	allow    []netip.Prefix
	resolver Resolver
	dial     dialFunc
}

func newGuardedDialer(allow []netip.Prefix, resolver Resolver, timeout, keepAlive time.Duration) *guardedDialer {
	g := &guardedDialer{allow: allow, resolver: resolver}
	nd := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: keepAlive,
		Control:   g.control,
	}
	g.dial = nd.DialContext
	return g
}

// control is the net.Dialer Control hook: it runs after the socket is made
// and before it connects, with the numeric address it connects to.
func (g *guardedDialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: reasonUnparseable}
	}
	if r := BlockReason(ap.Addr(), g.allow); r != "" {
		return &BlockedError{IP: ap.Addr(), Reason: r}
	}
	return nil
}

// DialContext is the http.Transport dial hook.
func (g *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	portNum, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, &net.AddrError{Err: "invalid port", Addr: address}
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil, err
	}

	var blocked *BlockedError
	vetted := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if r := BlockReason(a, g.allow); r != "" {
			if blocked == nil {
				blocked = &BlockedError{Host: host, IP: a, Reason: r}
			}
			continue
		}
		// Dial the plain IPv4 form of an IPv4-mapped address: that is the
		// address the kernel connects to anyway, and the one Control
		// sees.
		vetted = append(vetted, a.Unmap())
	}
	if len(vetted) == 0 {
		if blocked != nil {
			return nil, blocked
		}
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}

	// A host that also resolves to refused addresses is still delivered
	// to over its allowed ones: the refused ones are never dialed, which
	// is all the guard promises, and a stray record must not stop
	// deliveries that are safe.
	vetted = interleaveFamilies(vetted)
	var firstErr error
	for i, a := range vetted {
		conn, err := g.dialOne(ctx, network, netip.AddrPortFrom(a, uint16(portNum)).String(), len(vetted)-i)
		if err == nil {
			return conn, nil
		}
		var be *BlockedError
		if errors.As(err, &be) && be.Host == "" {
			be.Host = host
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// lookup returns the addresses host stands for: itself when it is an IP
// literal, else what the resolver says.
func (g *guardedDialer) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return g.resolver.LookupNetIP(ctx, "ip", host)
}

// dialOne dials one address with a share of the remaining time, so one
// black-holed address cannot use up the attempt that the next address
// would have answered (the rule net.Dialer itself applies).
func (g *guardedDialer) dialOne(ctx context.Context, network, address string, remaining int) (net.Conn, error) {
	if d, ok := partialDeadline(ctx, time.Now(), remaining); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	return g.dial(ctx, network, address)
}

// partialDeadline gives one of the remaining addresses its share of the
// time left, but no less than a sane minimum (or all of it when less is
// left).
func partialDeadline(ctx context.Context, now time.Time, remaining int) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return time.Time{}, false
	}
	const saneMinimum = 2 * time.Second
	left := deadline.Sub(now)
	share := left / time.Duration(remaining)
	if share < saneMinimum {
		share = min(left, saneMinimum)
	}
	return now.Add(share), true
}

// interleaveFamilies orders the addresses by alternating IPv6 and IPv4,
// starting with the family of the first one, keeping the resolver's order
// within each family (RFC 8305, section 4): if one family is broken, the
// next address tried is one of the other.
func interleaveFamilies(addrs []netip.Addr) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	var first, second []netip.Addr
	firstIs4 := addrs[0].Is4()
	for _, a := range addrs {
		if a.Is4() == firstIs4 {
			first = append(first, a)
		} else {
			second = append(second, a)
		}
	}
	if len(second) == 0 {
		return addrs
	}
	out := make([]netip.Addr, 0, len(addrs))
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			out = append(out, first[i])
		}
		if i < len(second) {
			out = append(out, second[i])
		}
	}
	return out
}
