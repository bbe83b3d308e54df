package ipfilter

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// bigList is n random IPv4 /24../32 and IPv6 /48../128 prefixes, as a
// threat-intelligence list would be.
func bigList(n int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(7, 9))
	out := make([]netip.Prefix, 0, n)
	for i := 0; i < n; i++ {
		if i%4 == 3 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], rng.Uint64())
			binary.BigEndian.PutUint64(b[8:], rng.Uint64())
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(b), 48+rng.IntN(81)).Masked())
			continue
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(b), 24+rng.IntN(9)).Masked())
	}
	return out
}

func benchAddrs() []netip.Addr {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]netip.Addr, 1024)
	for i := range out {
		if i%4 == 3 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], rng.Uint64())
			binary.BigEndian.PutUint64(b[8:], rng.Uint64())
			out[i] = netip.AddrFrom16(b)
		} else {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			out[i] = netip.AddrFrom4(b)
		}
	}
	return out
}

// BenchmarkIPSetContains100k is the lookup in a 100,000-entry list.
func BenchmarkIPSetContains100k(b *testing.B) {
	s := NewIPSet(bigList(100_000))
	addrs := benchAddrs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Contains(addrs[i&1023])
	}
}

// BenchmarkIPFilterPolicy100k is the ip_filter policy's per-request cost
// with a 100,000-entry deny list (nearly every address passes).
func BenchmarkIPFilterPolicy100k(b *testing.B) {
	p := &ipFilterPolicy{&Filter{deny: NewIPSet(bigList(100_000))}}
	addrs := benchAddrs()
	c := pipelinetest.Context(pipelinetest.Request("GET", "/", ""), "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.ClientAddr = addrs[i&1023]
		_ = p.Handle(c)
	}
}

// BenchmarkNewIPSet100k is the load-time cost of compiling the list.
func BenchmarkNewIPSet100k(b *testing.B) {
	l := bigList(100_000)
	b.ReportAllocs()
	for b.Loop() {
		NewIPSet(l)
	}
}
