package intrusion

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// TestManualBans: a ban made by hand holds like a detector ban, a longer
// one extends it, a shorter one does not shorten it, the allow list wins,
// and a lift ends any ban, the detector's included.
func TestManualBans(t *testing.T) {
	clk := newClock()
	d := newDetClock(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Hour), Allow: []string{"10.0.0.0/8"}}, clk)
	a := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		desc   string
		do     func() bool
		want   bool
		banned bool
	}{
		{"a new ban", func() bool { return d.Ban(a, clk.now().Add(time.Minute)) }, true, true},
		{"a shorter ban changes nothing", func() bool { return d.Ban(a, clk.now().Add(time.Second)) }, false, true},
		{"a longer ban extends it", func() bool { return d.Ban(a, clk.now().Add(time.Hour)) }, true, true},
		{"an allow-listed address is never banned", func() bool { return d.Ban(netip.MustParseAddr("10.1.2.3"), clk.now().Add(time.Hour)) }, false, true},
	} {
		if got := tc.do(); got != tc.want || d.Banned(a) != tc.banned {
			t.Errorf("%s: %v (banned %v)", tc.desc, got, d.Banned(a))
		}
	}
	if d.Banned(netip.MustParseAddr("10.1.2.3")) {
		t.Error("allow-listed address banned")
	}
	if l := d.List(); len(l) != 1 || l[0].Address != a || !l[0].Until.Equal(clk.now().Add(time.Hour).UTC()) {
		t.Fatalf("list = %+v", l)
	}
	// A detector ban, lifted by hand.
	b := netip.MustParseAddr("192.0.2.2")
	d.Record(EventAuthFailure, Info{Client: b})
	if !d.Banned(b) {
		t.Fatal("the detector did not ban")
	}
	for _, x := range []netip.Addr{a, b} {
		if err := d.Lift(context.Background(), x, true); err != nil {
			t.Fatal(err)
		}
		if d.Banned(x) {
			t.Errorf("%s still banned after the lift", x)
		}
	}
	if len(d.List()) != 0 {
		t.Fatalf("list after lifts = %+v", d.List())
	}
	// An IPv4-mapped IPv6 address is the same client.
	d.Ban(netip.MustParseAddr("::ffff:192.0.2.3"), clk.now().Add(time.Minute))
	if !d.Banned(netip.MustParseAddr("192.0.2.3")) {
		t.Error("a mapped address was banned under another name")
	}
}
