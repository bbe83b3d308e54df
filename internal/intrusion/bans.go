package intrusion

import (
	"hash/maphash"
	"math"
	"net/netip"

	"github.com/portcullis/portcullis/internal/ttlmap"
)

const banShards = 32

// banTable is the local view of the bans: client address -> end of the
// ban (unix nanoseconds), a ttlmap whose entries expire when the ban ends.
// It is not bounded (capacity math.MaxInt): a ban is never evicted to make
// room, only ended, lifted or pruned. Lookups take one shard's read lock
// and never allocate; with no ban at all they take no lock (Count).
type banTable struct {
	m *ttlmap.Map[netip.Addr, int64]
}

func newBanTable() *banTable {
	seed := maphash.MakeSeed()
	return &banTable{m: ttlmap.New[netip.Addr, int64](math.MaxInt, banShards, func(a netip.Addr) int {
		b := a.As16()
		return int(maphash.Bytes(seed, b[:]) % banShards) // #nosec G115 -- reduced below 32
	})}
}

// count is the number of bans held (ended ones not yet pruned included).
func (t *banTable) count() int64 { return t.m.Count() }

// until returns when a's ban ends (0 when a is not banned at now).
func (t *banTable) until(a netip.Addr, now int64) int64 {
	if t.m.Count() == 0 {
		return 0
	}
	u, ok := t.m.Get(&a, now)
	if !ok {
		return 0
	}
	return u
}

// set bans a until u, keeping the later end when a is already banned.
// It reports whether the ban is new or longer.
func (t *banTable) set(a netip.Addr, u int64) bool {
	changed := false
	t.m.Update(&a, 0, func(old int64, found bool) (int64, int64) {
		if found && old >= u {
			return old, old
		}
		changed = true
		return u, u
	})
	return changed
}

// prune drops the bans that ended before now.
func (t *banTable) prune(now int64) { t.m.Prune(now) }

// remove deletes a's ban.
func (t *banTable) remove(a netip.Addr) { t.m.Delete(&a) }

// each calls f for every ban held (ended ones not yet pruned included).
func (t *banTable) each(f func(a netip.Addr, until int64)) {
	t.m.Range(func(a netip.Addr, u, _ int64) { f(a, u) })
}
