package intrusion

import (
	"context"
	"net/netip"
	"sort"
	"time"
)

// Bans made and lifted by operators (the admin API). They share the
// detector's table, so the request path checks one map whoever banned a
// client; a lift removes a ban whoever made it, the intrusion detector's
// included.

// BanEntry is one ban in force.
type BanEntry struct {
	Address netip.Addr
	Until   time.Time
}

// Ban bans a until the given time (a later end wins over an earlier one).
// It reports whether the ban is new or longer.
func (d *Detector) Ban(a netip.Addr, until time.Time) bool {
	a = a.Unmap()
	if d.allowed(a) {
		return false // this node's allow list wins, as for shared bans
	}
	if !d.bans.set(a, until.UnixNano()) {
		return false
	}
	d.banned.Add(1)
	return true
}

// Lift ends a's ban on this node. With shared set, it also removes the
// ban from Redis (when bans are shared), so other nodes do not read it
// back; the node that handles the operator's request does that once.
func (d *Detector) Lift(ctx context.Context, a netip.Addr, shared bool) error {
	a = a.Unmap()
	d.bans.remove(a)
	if shared && d.redis != nil {
		return d.redis.remove(ctx, a)
	}
	return nil
}

// List returns the bans in force, sorted by address.
func (d *Detector) List() []BanEntry {
	now := d.now().UnixNano()
	var out []BanEntry
	d.bans.each(func(a netip.Addr, u int64) {
		if u > now {
			out = append(out, BanEntry{Address: a, Until: time.Unix(0, u).UTC()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Address.Less(out[j].Address) })
	return out
}

// remove deletes a ban from the shared set.
func (r *redisBans) remove(ctx context.Context, a netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.client.ZRem(ctx, r.key, a.String()).Err()
}
