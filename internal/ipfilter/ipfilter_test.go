package ipfilter

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	ps, err := ParsePrefixes(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestIPSetContains(t *testing.T) {
	s := NewIPSet(prefixes(t,
		"10.0.0.0/8", "10.1.0.0/16", // nested: merged
		"192.0.2.7", "192.0.2.8", // adjacent: merged
		"::ffff:198.51.100.0/120", // IPv4-mapped: counts as 198.51.100.0/24
		"2001:db8::/32", "::1", "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	))
	in := []string{"10.0.0.0", "10.255.255.255", "10.1.2.3", "192.0.2.7", "192.0.2.8", "198.51.100.9",
		"::ffff:198.51.100.9", "::ffff:10.2.3.4", "2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "::1",
		"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::5"}
	out := []string{"9.255.255.255", "11.0.0.0", "192.0.2.6", "192.0.2.9", "198.51.101.0", "2001:db9::",
		"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "::2", "::", "0.0.0.0", "255.255.255.254", "fe80::1"}
	for _, a := range in {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s: not contained, want contained", a)
		}
	}
	for _, a := range out {
		if s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s: contained, want not", a)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the zero address is contained")
	}
	if got := len(s.v4); got != 4 { // 10/8, 192.0.2.7-8, 198.51.100/24, 255.255.255.255
		t.Errorf("v4 ranges = %d (%v), want 4", got, s.v4)
	}
}

func TestIPSetWholeSpaces(t *testing.T) {
	s := NewIPSet(prefixes(t, "0.0.0.0/0", "::/0", "1.2.3.0/24"))
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff::1", "1.2.3.4"} {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s not contained", a)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d, want 2", s.Len())
	}
	// ::/0 is IPv6 only: IPv4 clients (and IPv4-mapped ones) are not in it.
	v6 := NewIPSet(prefixes(t, "::/0"))
	if v6.Contains(netip.MustParseAddr("192.0.2.1")) || v6.Contains(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Error("::/0 contains an IPv4 address")
	}
}

// TestIPSetAgainstNaive compares the compiled set with prefix-by-prefix
// checks on random lists and addresses near range edges.
func TestIPSetAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		var ps []netip.Prefix
		for i := 0; i < 200; i++ {
			if rng.IntN(2) == 0 {
				var b [4]byte
				for j := range b {
					b[j] = byte(rng.IntN(4)) // a small space: many overlaps
				}
				ps = append(ps, netip.PrefixFrom(netip.AddrFrom4(b), 16+rng.IntN(17)).Masked())
			} else {
				var b [16]byte
				for j := range b {
					b[j] = byte(rng.IntN(3))
				}
				ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(b), 100+rng.IntN(29)).Masked())
			}
		}
		s := NewIPSet(ps)
		for i := 0; i < 2000; i++ {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				var b [4]byte
				for j := range b {
					b[j] = byte(rng.IntN(4))
				}
				a = netip.AddrFrom4(b)
			} else {
				var b [16]byte
				for j := range b {
					b[j] = byte(rng.IntN(3))
				}
				a = netip.AddrFrom16(b)
			}
			want := false
			for _, p := range ps {
				if p.Contains(a) {
					want = true
					break
				}
			}
			if got := s.Contains(a); got != want {
				t.Fatalf("round %d: Contains(%s) = %v, want %v", round, a, got, want)
			}
		}
	}
}

func TestParsePrefix(t *testing.T) {
	ok := map[string]string{
		"10.0.0.0/8":           "10.0.0.0/8",
		" 192.0.2.7 ":          "192.0.2.7/32",
		"::ffff:192.0.2.7":     "192.0.2.7/32",
		"::ffff:192.0.2.0/120": "192.0.2.0/24",
		"::ffff:0:0/96":        "0.0.0.0/0",
		"::fffe:0:0/95":        "::fffe:0:0/95",
		"2001:db8::/32":        "2001:db8::/32",
		"fe80::1%eth0":         "fe80::1/128",
		"::1":                  "::1/128",
		"0.0.0.0/0":            "0.0.0.0/0",
	}
	for in, want := range ok {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "10.0.0", "example.com", "1.2.3.4/", "::1/129", "10.0.0.0/8/8", "fe80::1%eth0/64", "10.1.2.3/8", "::ffff:0:0/95", "2001:db8::1/32"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) succeeded", bad)
		}
	}
}

func TestParseCIDRList(t *testing.T) {
	ps, err := ParseCIDRList(strings.NewReader("# header\n\n10.0.0.0/8  # office\n  2001:db8::/32\r\n192.0.2.7\n#192.0.2.8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].String() != "10.0.0.0/8" || ps[1].String() != "2001:db8::/32" || ps[2].String() != "192.0.2.7/32" {
		t.Errorf("got %v", ps)
	}
	_, err = ParseCIDRList(strings.NewReader("10.0.0.0/8\n\nnot-an-ip\n"))
	if err == nil || err.Error() != `line 3: invalid IP address "not-an-ip"` {
		t.Errorf("error = %v", err)
	}
	_, err = ParseCIDRList(strings.NewReader("10.0.0.0/8\n" + strings.Repeat("1", maxListLine+10) + "\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("long line error = %v", err)
	}
}

func TestIPFilterCheck(t *testing.T) {
	deny := pipelinetest.WriteFile(t, "deny.txt", "10.9.0.0/16\n")
	f, err := Compile(&config.IPFilter{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.1.1.1"}, DenyFile: deny}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]Decision{
		"10.2.3.4": Allowed, "::ffff:10.2.3.4": Allowed, "2001:db8::9": Allowed,
		"10.1.1.1": Denied, "::ffff:10.1.1.1": Denied, "10.9.200.1": Denied,
		"11.0.0.1": NotAllowed, "::1": NotAllowed,
	}
	for a, want := range cases {
		if got := f.Check(netip.MustParseAddr(a)); got != want {
			t.Errorf("Check(%s) = %v, want %v", a, got, want)
		}
	}
	if f.Check(netip.Addr{}) != NoAddress {
		t.Error("an unknown client address is not refused")
	}
	p := f.Problem(Denied)
	if p.Status != http.StatusForbidden || strings.Contains(p.Detail, "deny") {
		t.Errorf("problem = %+v", p)
	}

	// Deny only: everyone else passes.
	f, err = Compile(&config.IPFilter{Deny: []string{"192.0.2.0/24"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Check(netip.MustParseAddr("198.51.100.1")) != Allowed || f.Check(netip.MustParseAddr("192.0.2.1")) != Denied {
		t.Error("deny-only filter")
	}
}

func TestCompileIPFilterErrors(t *testing.T) {
	empty := pipelinetest.WriteFile(t, "empty.txt", "# nothing yet\n")
	bad := pipelinetest.WriteFile(t, "bad.txt", "10.0.0.0/8\n10.0.0.0/99\n")
	cases := []struct {
		f    config.IPFilter
		want string
	}{
		{config.IPFilter{}, "at least one of allow, deny, allow_file or deny_file is required"},
		{config.IPFilter{Allow: []string{"10.0.0.0/8", "nope"}}, `allow[1]: invalid IP address "nope"`},
		{config.IPFilter{AllowFile: empty}, `allow_file: "` + empty + `" has no entries`},
		{config.IPFilter{DenyFile: bad}, `deny_file: "` + bad + `": line 2: invalid CIDR "10.0.0.0/99"`},
		{config.IPFilter{DenyFile: "/nonexistent/x"}, `deny_file: cannot read "/nonexistent/x": no such file or directory`},
	}
	for _, tc := range cases {
		_, err := Compile(&tc.f, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error = %v, want prefix %q", tc.f, err, tc.want)
		}
	}
	// An empty deny file is an empty block list, not an error.
	if _, err := Compile(&config.IPFilter{DenyFile: empty}, nil); err != nil {
		t.Errorf("empty deny_file: %v", err)
	}
}

func TestIPFilterPolicy(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, "kind: ip_filter\nallow: [127.0.0.0/8]\ndeny: [127.0.0.2]\n")
	r := pipelinetest.Request("GET", "/", "")
	r.Header.Set("X-Forwarded-For", "127.0.0.1") // never read by the policy
	if prob := p.Handle(pipelinetest.Context(r, "127.0.0.1")); prob != nil {
		t.Errorf("allowed client refused: %+v", prob)
	}
	for _, a := range []string{"127.0.0.2", "192.0.2.1"} {
		if prob := p.Handle(pipelinetest.Context(r, a)); prob == nil || prob.Status != 403 {
			t.Errorf("%s: %+v", a, prob)
		}
	}
	if _, err := pipelinetest.Compile(t, "kind: ip_filter\nallow: [10.0.0.0/33]\n"); err == nil || !strings.Contains(err.Error(), `allow[0]: invalid CIDR "10.0.0.0/33"`) {
		t.Errorf("bad CIDR: %v", err)
	}
	if _, err := pipelinetest.Compile(t, "kind: ip_filter\nalow: [10.0.0.0/8]\n"); err == nil || !strings.Contains(err.Error(), "t.yaml:2:1") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestIPFilterAllocs(t *testing.T) {
	f, err := Compile(&config.IPFilter{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.1.0.0/16"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a4, a6 := netip.MustParseAddr("10.2.3.4"), netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { f.Check(a4); f.Check(a6) }); n != 0 {
		t.Errorf("Check allocates %v times", n)
	}
}
