package egress

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBlockReason(t *testing.T) {
	tests := []struct {
		addr   string
		reason string // "" = allowed
	}{
		// Public addresses are allowed.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.216.34", ""},
		{"100.63.255.255", ""},  // just below CGNAT
		{"100.128.0.0", ""},     // just above CGNAT
		{"172.15.255.255", ""},  // just below 172.16/12
		{"172.32.0.0", ""},      // just above 172.16/12
		{"192.167.255.255", ""}, // just below 192.168/16
		{"198.17.255.255", ""},  // just below 198.18/15
		{"198.20.0.0", ""},      // just above 198.18/15
		{"223.255.255.255", ""}, // just below multicast
		{"2606:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"::ffff:8.8.8.8", ""},   // IPv4-mapped public
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"2001:db7:ffff::1", ""}, // just below documentation
		{"2001:200::1", ""},      // just above 2001::/23
		{"fbff:ffff::1", "reserved (not global unicast)"},

		// IPv4.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "cgnat"},
		{"100.127.255.255", "cgnat"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "cloud-metadata"},
		{"169.254.170.2", "cloud-metadata"},
		{"169.254.1.1", "link-local"},
		{"192.0.0.8", "ietf-protocol-assignment"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"192.88.99.1", "6to4-relay"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.254", "reserved"},
		{"255.255.255.255", "broadcast"},

		// IPv6.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::7f00:1", "reserved"}, // IPv4-compatible (deprecated)
		{"::2", "reserved"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"}, // a zone changes nothing
		{"febf:ffff::1", "link-local"},
		{"fec0::1", "site-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456:789a::1", "unique-local"},
		{"fd00:ec2::254", "cloud-metadata"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"2001:db8:ffff:ffff::1", "documentation"},
		{"3fff::1", "documentation"},
		{"2001::1", "teredo"},
		{"2001:2::1", "benchmarking"},
		{"2001:10::1", "ietf-protocol-assignment"},
		{"100::1", "discard-only"},
		{"64:ff9b:1::a00:1", "nat64-local"},
		{"5f00::1", "srv6-sid"},
		{"4000::1", "reserved (not global unicast)"},

		// IPv4-mapped IPv6: judged by the IPv4 address.
		{"::ffff:127.0.0.1", "loopback (ipv4-mapped)"},
		{"::ffff:10.1.2.3", "private (ipv4-mapped)"},
		{"::ffff:169.254.169.254", "cloud-metadata (ipv4-mapped)"},
		{"::ffff:0.0.0.0", "unspecified (ipv4-mapped)"},
		{"::ffff:100.64.0.1", "cgnat (ipv4-mapped)"},

		// NAT64 well-known prefix: judged by the embedded IPv4 address.
		{"64:ff9b::7f00:1", "loopback (via nat64)"},
		{"64:ff9b::a9fe:a9fe", "cloud-metadata (via nat64)"},
		{"64:ff9b::c0a8:101", "private (via nat64)"},

		// 6to4: the IPv4 address is in bits 16..47.
		{"2002:7f00:1::1", "loopback (via 6to4)"},
		{"2002:a00:1::1", "private (via 6to4)"},
		{"2002:a9fe:a9fe::", "cloud-metadata (via 6to4)"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			if got := BlockReason(addr, nil); got != tt.reason {
				t.Errorf("BlockReason(%s) = %q, want %q", tt.addr, got, tt.reason)
			}
		})
	}
}

func TestBlockReasonInvalid(t *testing.T) {
	if got := BlockReason(netip.Addr{}, nil); got != "invalid" {
		t.Errorf("BlockReason(zero) = %q, want invalid", got)
	}
}

func TestBlockReasonAllowlist(t *testing.T) {
	allow, err := ParseAllowlist([]string{"127.0.0.0/8", "::1/128", "10.20.0.0/16", "fd00:1::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.9.9.9", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true}, // mapped form of an allowed address
		{"64:ff9b::7f00:1", true},  // NAT64 of an allowed address
		{"10.20.3.4", true},
		{"10.21.0.1", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"169.254.169.254", false},
		{"192.168.0.1", false},
		{"::ffff:192.168.0.1", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		r := BlockReason(netip.MustParseAddr(tt.addr), allow)
		if (r == "") != tt.allowed {
			t.Errorf("BlockReason(%s) with allowlist = %q, want allowed=%v", tt.addr, r, tt.allowed)
		}
	}
}

func TestParseAllowlist(t *testing.T) {
	got, err := ParseAllowlist([]string{" 10.1.2.3/8 ", "192.168.5.5", "::1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.5.5/32", "::1/128", "fd00::/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}

	for _, bad := range []string{"10.0.0.0/33", "not-a-cidr", "fe80::1%eth0", "", "10.0.0.0/8/8"} {
		_, err := ParseAllowlist([]string{"127.0.0.0/8", bad})
		if err == nil {
			t.Errorf("ParseAllowlist(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), "entry 1") {
			t.Errorf("error %q does not name entry 1 %q", err, bad)
		}
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	e := &BlockedError{Host: "rebind.example", IP: netip.MustParseAddr("127.0.0.1"), Reason: "loopback"}
	want := `egress: refused to connect to 127.0.0.1 (loopback) for host "rebind.example": address not allowed`
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	e.Host = "127.0.0.1"
	if strings.Contains(e.Error(), "for host") {
		t.Errorf("Error() repeats a literal host: %q", e.Error())
	}
}

// The Control hook is the last line: it sees the numeric address the
// socket connects to. No network here.
func TestControlChecksConnectAddress(t *testing.T) {
	allow, _ := ParseAllowlist([]string{"192.168.7.0/24"})
	g := &guardedDialer{allow: allow}
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:443", true},
		{"[::ffff:10.0.0.1]:80", true},
		{"[fe80::1%eth0]:80", true},
		{"169.254.169.254:80", true},
		{"192.168.7.9:8080", false},
		{"8.8.8.8:443", false},
		{"[2606:4700::1111]:443", false},
		{"garbage", true},
	}
	for _, tt := range tests {
		err := g.control("tcp", tt.addr, nil)
		var be *BlockedError
		if got := errors.As(err, &be); got != tt.blocked {
			t.Errorf("control(%s) = %v, want blocked=%v", tt.addr, err, tt.blocked)
		}
	}
}

func TestInterleaveFamilies(t *testing.T) {
	in := []netip.Addr{
		netip.MustParseAddr("2001:4860::1"),
		netip.MustParseAddr("2001:4860::2"),
		netip.MustParseAddr("2001:4860::3"),
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("8.8.4.4"),
	}
	got := interleaveFamilies(in)
	want := []string{"2001:4860::1", "8.8.8.8", "2001:4860::2", "8.8.4.4", "2001:4860::3"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("interleaveFamilies = %v, want %v", got, want)
		}
	}
	one := in[3:4]
	if got := interleaveFamilies(one); len(got) != 1 || got[0] != one[0] {
		t.Errorf("single address changed: %v", got)
	}
}

func TestPartialDeadline(t *testing.T) {
	now := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(12*time.Second))
	defer cancel()
	if d, ok := partialDeadline(ctx, now, 3); !ok || d.Sub(now) != 4*time.Second {
		t.Errorf("3 addresses, 12s left: got %v %v, want 4s", d.Sub(now), ok)
	}
	if d, ok := partialDeadline(ctx, now, 12); !ok || d.Sub(now) != 2*time.Second {
		t.Errorf("12 addresses, 12s left: got %v, want the 2s minimum", d.Sub(now))
	}
	if _, ok := partialDeadline(ctx, now, 1); ok {
		t.Error("the last address should get all the time left")
	}
	if _, ok := partialDeadline(context.Background(), now, 3); ok {
		t.Error("no deadline should mean no partial deadline")
	}
	short, cancel2 := context.WithDeadline(context.Background(), now.Add(time.Second))
	defer cancel2()
	if d, ok := partialDeadline(short, now, 3); !ok || d.Sub(now) != time.Second {
		t.Errorf("1s left: got %v, want all of it", d.Sub(now))
	}
}
