package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// BlockedError reports that the guard refused to connect to an address.
// The dispatcher records the attempt with outcome "blocked"
// (domain.OutcomeBlocked); retrying is pointless until the endpoint's DNS
// or hookd's allowlist changes.
type BlockedError struct {
	// Host is the host name (or literal) of the endpoint URL; empty when
	// the refusal came from the connect-time check, which sees only
	// addresses.
	Host string
	// IP is the refused address, as resolved (an IPv4-mapped form is kept
	// as such, so the log shows what DNS returned).
	IP netip.Addr
	// Reason names the special-purpose range IP falls in, e.g. "loopback"
	// or "private (ipv4-mapped)".
	Reason string
}

func (e *BlockedError) Error() string {
	var b strings.Builder
	b.WriteString("egress: refused to connect to ")
	b.WriteString(e.IP.String())
	b.WriteString(" (")
	b.WriteString(e.Reason)
	b.WriteString(")")
	if e.Host != "" && e.Host != e.IP.String() {
		b.WriteString(" for host ")
		b.WriteString(strconv.Quote(e.Host))
	}
	b.WriteString(": address not allowed")
	return b.String()
}

// ParseAllowlist parses CIDRs (a bare address counts as a single-address
// prefix) into the form BlockReason takes. Prefixes are masked, so
// "10.1.2.3/8" means 10.0.0.0/8. The error names the first entry that does
// not parse, so a configuration mistake is easy to find.
func ParseAllowlist(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		t := strings.TrimSpace(s)
		var p netip.Prefix
		if strings.Contains(t, "/") {
			var err error
			p, err = netip.ParsePrefix(t)
			if err != nil {
				return nil, fmt.Errorf("egress: allowlist entry %d %q is not a CIDR: %w", i, s, err)
			}
		} else {
			a, err := netip.ParseAddr(t)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("egress: allowlist entry %d %q is not a CIDR or an IP address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

type rangeRule struct {
	prefix netip.Prefix
	reason string
}

func rules(reason string, cidrs ...string) []rangeRule {
	out := make([]rangeRule, len(cidrs))
	for i, c := range cidrs {
		out[i] = rangeRule{netip.MustParsePrefix(c), reason}
	}
	return out
}

// Block reasons. They end up in attempt records and dead letters, so they
// say what the address is rather than why that is dangerous.
const (
	reasonInvalid     = "invalid"
	reasonUnspecified = "unspecified"
	reasonThisNetwork = "this-network"
	reasonLoopback    = "loopback"
	reasonPrivate     = "private"
	reasonCGNAT       = "cgnat"
	reasonLinkLocal   = "link-local"
	reasonMetadata    = "cloud-metadata"
	reasonProtocol    = "ietf-protocol-assignment"
	reasonDoc         = "documentation"
	reasonBenchmark   = "benchmarking"
	reason6to4Relay   = "6to4-relay"
	reasonMulticast   = "multicast"
	reasonBroadcast   = "broadcast"
	reasonReserved    = "reserved"
	reasonNAT64Local  = "nat64-local"
	reasonDiscard     = "discard-only"
	reasonTeredo      = "teredo"
	reasonSRv6        = "srv6-sid"
	reasonUniqueLocal = "unique-local"
	reasonSiteLocal   = "site-local"
	suffixIPv4Mapped  = " (ipv4-mapped)"
	suffixNAT64       = " (via nat64)"
	suffix6to4        = " (via 6to4)"
	reasonNotGlobalV6 = reasonReserved + " (not global unicast)"
	reasonUnparseable = "unparseable"
)

// Tables of refused ranges, most specific first: the first match names the
// reason. Sources: the IANA IPv4 and IPv6 special-purpose address
// registries, plus the well-known cloud metadata addresses (which lie in
// ranges refused anyway, but deserve a clearer reason in the log).
var (
	v4Rules = concat(
		rules(reasonBroadcast, "255.255.255.255/32"),
		rules(reasonUnspecified, "0.0.0.0/32"),
		rules(reasonThisNetwork, "0.0.0.0/8"),
		rules(reasonPrivate, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
		rules(reasonCGNAT, "100.64.0.0/10"),
		rules(reasonLoopback, "127.0.0.0/8"),
		rules(reasonMetadata, "169.254.169.254/32", "169.254.170.2/32"),
		rules(reasonLinkLocal, "169.254.0.0/16"),
		rules(reasonProtocol, "192.0.0.0/24"),
		rules(reasonDoc, "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
		rules(reason6to4Relay, "192.88.99.0/24"),
		rules(reasonBenchmark, "198.18.0.0/15"),
		rules(reasonMulticast, "224.0.0.0/4"),
		rules(reasonReserved, "240.0.0.0/4"),
	)
	v6Rules = concat(
		rules(reasonUnspecified, "::/128"),
		rules(reasonLoopback, "::1/128"),
		rules(reasonNAT64Local, "64:ff9b:1::/48"),
		// IPv4-compatible (deprecated) and everything else in ::/8 that
		// is not IPv4-mapped or NAT64 (judged by their IPv4 address).
		rules(reasonReserved, "::/8"),
		rules(reasonDiscard, "100::/64"),
		rules(reasonTeredo, "2001::/32"),
		rules(reasonBenchmark, "2001:2::/48"),
		rules(reasonProtocol, "2001::/23"),
		rules(reasonDoc, "2001:db8::/32", "3fff::/20"),
		rules(reasonSRv6, "5f00::/16"),
		rules(reasonMetadata, "fd00:ec2::254/128"),
		rules(reasonUniqueLocal, "fc00::/7"),
		rules(reasonLinkLocal, "fe80::/10"),
		rules(reasonSiteLocal, "fec0::/10"),
		rules(reasonMulticast, "ff00::/8"),
	)
	// Only 2000::/3 is allocated for global unicast; anything outside it
	// (and not matched above) is reserved and has no business receiving
	// webhooks.
	v6GlobalUnicast = netip.MustParsePrefix("2000::/3")
	// Translation prefixes whose addresses carry an IPv4 address that the
	// packets end up at, so they are judged by that address.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

func concat(groups ...[]rangeRule) []rangeRule {
	var out []rangeRule
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// BlockReason reports why the guard refuses to connect to addr, or "" when
// it may be connected to. It is pure (no DNS, no I/O), so configuration
// validation and tests can call it too.
//
// An address inside an allow prefix is allowed whatever range it is in.
// IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are
// judged by the IPv4 address they carry, and the allowlist applies to that
// address too: allowing 10.0.0.0/8 also allows 64:ff9b::a00:1. An IPv6
// zone is ignored (fe80::1%eth0 is link-local like fe80::1).
func BlockReason(addr netip.Addr, allow []netip.Prefix) string {
	if !addr.IsValid() {
		return reasonInvalid
	}
	// netip.Prefix.Contains never matches an address with a zone; strip
	// it so a zone cannot smuggle an address past the tables.
	addr = addr.WithZone("")
	if allowed(addr, allow) {
		return ""
	}
	switch {
	case addr.Is4():
		return match(addr, v4Rules)
	case addr.Is4In6():
		if r := BlockReason(addr.Unmap(), allow); r != "" {
			return r + suffixIPv4Mapped
		}
		return ""
	case nat64WellKnown.Contains(addr):
		b := addr.As16()
		if r := BlockReason(netip.AddrFrom4([4]byte(b[12:16])), allow); r != "" {
			return r + suffixNAT64
		}
		return ""
	case sixToFour.Contains(addr):
		b := addr.As16()
		if r := BlockReason(netip.AddrFrom4([4]byte(b[2:6])), allow); r != "" {
			return r + suffix6to4
		}
		return ""
	}
	if r := match(addr, v6Rules); r != "" {
		return r
	}
	if !v6GlobalUnicast.Contains(addr) {
		return reasonNotGlobalV6
	}
	return ""
}

func allowed(addr netip.Addr, allow []netip.Prefix) bool {
	for _, p := range allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func match(addr netip.Addr, table []rangeRule) string {
	for _, r := range table {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	return ""
}
