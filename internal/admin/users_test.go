package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/portcullis/portcullis/internal/config"
)

// TestTOTPStepWindow: a code is valid for its own step and one step of
// drift either way (RFC 6238 section 5.2), never further, and only when it
// is exactly six digits of this secret.
func TestTOTPStepWindow(t *testing.T) {
	secret := []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	now := time.Unix(1_800_000_015, 0)
	cur := now.Unix() / totpPeriod
	code := func(step int64) string {
		c, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		desc string
		code string
		want int64
	}{
		{"current step", code(cur), cur},
		{"one step behind (drift)", code(cur - 1), cur - 1},
		{"one step ahead (drift)", code(cur + 1), cur + 1},
		{"two steps behind", code(cur - 2), 0},
		{"two steps ahead", code(cur + 2), 0},
		{"five digits", code(cur)[:5], 0},
		{"seven digits", code(cur) + "0", 0},
		{"empty", "", 0},
	} {
		got := totpStep(secret, tc.code, now)
		// Six random digits can coincide with a neighbouring step's code;
		// only a refusal that should have been an acceptance is an error
		// then.
		if got != tc.want && !(tc.want == 0 && got != 0 && len(tc.code) == 6) {
			t.Errorf("%s: step %d, want %d", tc.desc, got, tc.want)
		}
	}
}

// TestRecoveryCodeForm: codes are 80 random bits in four groups, unique,
// and their digest ignores case, dashes and spaces (as people type them).
func TestRecoveryCodeForm(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		c, err := newRecoveryCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 19 || strings.Count(c, "-") != 3 || c != strings.ToLower(c) || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	for _, tc := range []struct{ desc, a, b string }{
		{"upper case", "abcd-efgh-ijkl-mnop", "ABCD-EFGH-IJKL-MNOP"},
		{"no dashes", "abcd-efgh-ijkl-mnop", "abcdefghijklmnop"},
		{"spaces", "abcd-efgh-ijkl-mnop", "abcd efgh ijkl mnop"},
	} {
		if recoveryHash(tc.a) != recoveryHash(tc.b) {
			t.Errorf("%s: digests differ", tc.desc)
		}
	}
	if recoveryHash("abcd-efgh-ijkl-mnop") == recoveryHash("abcd-efgh-ijkl-mnoq") {
		t.Error("different codes share a digest")
	}
}

// TestTokenNetworkAllows: a token limited to networks is usable only from
// an address inside one of them; an unparsable address or network allows
// nothing.
func TestTokenNetworkAllows(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		networks []string
		client   string
		want     bool
	}{
		{"no networks: anywhere", nil, "203.0.113.9", true},
		{"inside an IPv4 network", []string{"10.0.0.0/8"}, "10.1.2.3", true},
		{"outside it", []string{"10.0.0.0/8"}, "11.0.0.1", false},
		{"IPv4-mapped IPv6 client", []string{"10.0.0.0/8"}, "::ffff:10.0.0.1", true},
		{"inside an IPv6 network", []string{"2001:db8::/32"}, "2001:db8::1", true},
		{"second network matches", []string{"192.0.2.0/24", "127.0.0.0/8"}, "127.0.0.1", true},
		{"single address", []string{"127.0.0.1/32"}, "127.0.0.2", false},
		{"client not an address", []string{"10.0.0.0/8"}, "example.com", false},
		{"network edited to garbage", []string{"not-a-network"}, "10.0.0.1", false},
		{"network the shared parser refuses", []string{"fe80::1%eth0/64"}, "fe80::1", false},
	} {
		if got := tokenNetworkAllows(tc.networks, tc.client); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, got, tc.want)
		}
	}
}

// TestTokenNetworksSharedRule: a token's client networks are read by the
// one address-list rule (config.ParsePrefix): what it refuses the token API
// refuses, and what it accepts is stored in its normal form.
func TestTokenNetworksSharedRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "": refused
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", ""}, // host bits set: one address or a /8?
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"}, // IPv4-mapped: the IPv4 network, as clients are compared
		{"fe80::1%eth0", "fe80::1/128"},
		{"fe80::1%eth0/64", ""}, // netip.ParseAddr took "eth0/64" for a zone: a /128 nobody asked for
		{"10.0.0.0/33", ""},
		{" 10.0.0.1", ""},
		{"010.0.0.1", ""},
		{"not-a-network", ""},
	} {
		p, perr := config.ParsePrefix(tc.in)
		if (perr != nil) != (tc.want == "") || (perr == nil && p.String() != tc.want) {
			t.Fatalf("%q: config.ParsePrefix gives %v, %v; the row says %q", tc.in, p, perr, tc.want)
		}
		nets, prob := tokenNetworks([]string{"127.0.0.0/8", tc.in})
		switch {
		case tc.want == "" && (prob == nil || prob.Field != "networks[1]"):
			t.Errorf("%q: accepted (%v), want refused at networks[1]", tc.in, nets)
		case tc.want != "" && prob != nil:
			t.Errorf("%q: refused: %s", tc.in, prob.Detail)
		case tc.want != "" && nets[1] != tc.want:
			t.Errorf("%q: stored as %q, want %q", tc.in, nets[1], tc.want)
		}
	}
	if _, prob := tokenNetworks(make([]string, maxTokenNetworks+1)); prob == nil || prob.Field != "networks" {
		t.Errorf("%d networks accepted", maxTokenNetworks+1)
	}
}
