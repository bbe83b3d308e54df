package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestValidateIPFilter(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"empty", minimal + "ip_filter: {}\n",
			`gw.yaml:14:12: ip_filter: at least one of allow, deny, allow_file or deny_file is required`},
		{"bad allow entry", minimal + "ip_filter:\n  allow: [10.0.0.0/8, 10.0.0.300]\n",
			`gw.yaml:15:23: ip_filter.allow[1]: "10.0.0.300" is not a CIDR or IP address`},
		{"bad deny cidr", minimal + "ip_filter:\n  deny: [\"2001:db8::/129\"]\n",
			`gw.yaml:15:10: ip_filter.deny[0]: "2001:db8::/129" is not a CIDR or IP address`},
		{"allow entry with host bits set", minimal + "ip_filter:\n  allow: [192.168.1.10/24]\n",
			`gw.yaml:15:11: ip_filter.allow[0]: CIDR "192.168.1.10/24" has host bits set: write 192.168.1.0/24 for the network, or 192.168.1.10 for the one address`},
		{"deny entry with host bits set", minimal + "ip_filter:\n  deny: [\"2001:db8::1/32\"]\n",
			`gw.yaml:15:10: ip_filter.deny[0]: CIDR "2001:db8::1/32" has host bits set: write 2001:db8::/32 for the network, or 2001:db8::1 for the one address`},
		{"allow_file missing", minimal + "ip_filter:\n  allow_file: /nonexistent/allow.txt\n",
			`gw.yaml:15:15: ip_filter.allow_file: cannot read "/nonexistent/allow.txt": no such file or directory`},
		{"unknown field", minimal + "ip_filter:\n  deny: [192.0.2.1]\n  allw: [10.0.0.0/8]\n",
			`gw.yaml:16:3: ip_filter.allw: unknown field "allw" (did you mean "allow"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

func TestValidIPFilter(t *testing.T) {
	f := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(f, []byte("# bad actors\n203.0.113.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, minimal+"ip_filter:\n  allow: [10.0.0.0/8, \"::1\", 192.0.2.7]\n  deny_file: "+f+"\n")
	if c.IPFilter == nil || len(c.IPFilter.Allow) != 3 || c.IPFilter.DenyFile != f {
		t.Fatalf("ip_filter = %+v", c.IPFilter)
	}
}

// TestParsePrefix: the one reading of an address list entry.
func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct{ desc, in, want string }{
		{"an IPv4 CIDR", "10.0.0.0/8", "10.0.0.0/8"},
		{"an IPv4 network with host bits set", "10.1.2.3/8", ""},
		{"one host written with its subnet's length", "192.168.1.10/24", ""},
		{"an IPv4 host route", "192.168.1.10/32", "192.168.1.10/32"},
		{"an IPv4 address", "192.0.2.7", "192.0.2.7/32"},
		{"an IPv6 CIDR", "2001:db8::/32", "2001:db8::/32"},
		{"an IPv6 network with host bits set", "2001:db8::1/32", ""},
		{"an IPv4-mapped prefix with host bits set", "::ffff:10.1.0.0/104", ""},
		{"all of IPv4, mapped", "::ffff:0:0/96", "0.0.0.0/0"},
		{"an IPv6 address", "::1", "::1/128"},
		{"an IPv4-mapped address", "::ffff:192.0.2.7", "192.0.2.7/32"},
		{"an IPv4-mapped prefix", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"a zone dropped", "fe80::1%eth0", "fe80::1/128"},
		{"not an address", "ten.0.0.0", ""},
		{"a bad length", "10.0.0.0/33", ""},
		{"white space", " 10.0.0.0/8", ""},
		{"empty", "", ""},
	} {
		p, err := ParsePrefix(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: %q parsed as %s", tc.desc, tc.in, p)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("%s: %q = %s, %v; want %s", tc.desc, tc.in, p, err, tc.want)
		}
	}
}

// TestAddressEntryWithHostBitsFromASecretIsNotShown: an address list entry
// from a secret reference is refused for its host bits without its value,
// nor the network and address it would be read as.
func TestAddressEntryWithHostBitsFromASecretIsNotShown(t *testing.T) {
	t.Setenv("PC_TEST_NET", "10.201.7.3/8")
	want := `gw.yaml:14:19: trusted_proxies[0]: (the value of ${env:PC_TEST_NET}) is a CIDR with host bits set`
	wantOnly(t, minimal+"trusted_proxies: [\"${env:PC_TEST_NET}\"]\n", want)
}

// TestClientKey: one client is an IPv4 address or the leading bits of an
// IPv6 address (client_ipv6_prefix), without allocating.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		desc, in string
		bits     int
		want     string
	}{
		{"IPv4 as it is", "192.0.2.7", 64, "192.0.2.7"},
		{"IPv4-mapped read as IPv4", "::ffff:192.0.2.7", 64, "192.0.2.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::"},
		{"IPv6 by its /56", "2001:db8:1:2ff::1", 56, "2001:db8:1:200::"},
		{"IPv6 whole at 128", "2001:db8::1", 128, "2001:db8::1"},
		{"a zone dropped", "fe80::1%eth0", 64, "fe80::"},
		{"a zone dropped at 128", "fe80::1%eth0", 128, "fe80::1"},
		{"loopback", "::1", 64, "::"},
	} {
		if got := ClientKey(netip.MustParseAddr(tc.in), tc.bits).String(); got != tc.want {
			t.Errorf("%s: ClientKey(%s, %d) = %s, want %s", tc.desc, tc.in, tc.bits, got, tc.want)
		}
	}
	a := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { _ = ClientKey(a, 64) }); n != 0 {
		t.Errorf("ClientKey allocates %v times", n)
	}
}
