package ipfilter

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
)

// IPSet is an immutable set of addresses, compiled from prefixes into
// sorted, non-overlapping, non-adjacent ranges: a lookup is one binary
// search, with no allocation, whatever the number of entries. IPv4 and
// IPv6 are kept apart; IPv4-mapped IPv6 addresses and prefixes count as
// IPv4.
type IPSet struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) cmp(b u128) int {
	if a.hi != b.hi {
		return cmp.Compare(a.hi, b.hi)
	}
	return cmp.Compare(a.lo, b.lo)
}

// next returns a+1 and whether it did not overflow.
func (a u128) next() (u128, bool) {
	a.lo++
	if a.lo == 0 {
		a.hi++
		if a.hi == 0 {
			return a, false
		}
	}
	return a, true
}

type range6 struct{ lo, hi u128 }

// NewIPSet compiles prefixes into a set. Prefixes are masked and
// normalized (an IPv4-mapped prefix of /96 or longer becomes IPv4).
func NewIPSet(prefixes []netip.Prefix) *IPSet {
	s := &IPSet{}
	for _, p := range prefixes {
		p = config.NormalizePrefix(p)
		if !p.IsValid() {
			continue
		}
		a := p.Addr()
		if a.Is4() {
			lo := binary.BigEndian.Uint32(a.AsSlice())
			var hi uint32
			if bits := p.Bits(); bits == 0 {
				hi = ^uint32(0)
			} else {
				hi = lo | (^uint32(0) >> bits)
			}
			s.v4 = append(s.v4, range4{lo, hi})
			continue
		}
		b := a.As16()
		lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		hi := lo
		switch bits := p.Bits(); {
		case bits == 0:
			hi = u128{^uint64(0), ^uint64(0)}
		case bits < 64:
			hi.hi |= ^uint64(0) >> bits
			hi.lo = ^uint64(0)
		case bits == 64:
			hi.lo = ^uint64(0)
		case bits < 128:
			hi.lo |= ^uint64(0) >> (bits - 64)
		}
		s.v6 = append(s.v6, range6{lo, hi})
	}
	s.v4 = merge4(s.v4)
	s.v6 = merge6(s.v6)
	return s
}

func merge4(rs []range4) []range4 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b range4) int { return cmp.Compare(a.lo, b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		// Overlapping or adjacent ranges become one.
		if last.hi == ^uint32(0) || r.lo <= last.hi+1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

func merge6(rs []range6) []range6 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b range6) int { return a.lo.cmp(b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		nx, ok := last.hi.next()
		if !ok || !nx.less(r.lo) {
			if last.hi.less(r.hi) {
				last.hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// Contains reports whether a is in the set. An invalid address is in no set.
func (s *IPSet) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		rs := s.v4
		// Find the first range whose hi is >= x.
		i, j := 0, len(rs)
		for i < j {
			h := int(uint(i+j) >> 1)
			if rs[h].hi < x {
				i = h + 1
			} else {
				j = h
			}
		}
		return i < len(rs) && rs[i].lo <= x
	}
	b := a.As16()
	x := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	rs := s.v6
	i, j := 0, len(rs)
	for i < j {
		h := int(uint(i+j) >> 1)
		if rs[h].hi.less(x) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i < len(rs) && !x.less(rs[i].lo)
}

// Len is the number of merged ranges (for logs and tests).
func (s *IPSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.v4) + len(s.v6)
}

// Empty reports whether the set holds no address.
func (s *IPSet) Empty() bool { return s.Len() == 0 }
