package upstream

import (
	"math"
	"slices"
	"strconv"
	"sync/atomic"
)

// balancer chooses an available target, or nil when none is.
type balancer interface {
	pick(hashKey string) *Target
}

// maxSchedule bounds the precomputed round-robin schedule; larger weight
// sums are scaled down proportionally.
const maxSchedule = 1 << 14

// roundRobin is smooth weighted round robin (as nginx does it) computed
// once into a schedule that picks walk with one atomic increment.
type roundRobin struct {
	targets  []*Target
	schedule []int32
	next     atomic.Uint64
}

func newRoundRobin(targets []*Target) *roundRobin {
	w := make([]int, len(targets))
	g, total := 0, 0
	for i, t := range targets {
		w[i] = t.weight
		g = gcd(g, t.weight)
		total += t.weight
	}
	total = 0
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	if total > maxSchedule {
		scaled := 0
		for i := range w {
			w[i] = max(1, int(int64(w[i])*maxSchedule/int64(total)))
			scaled += w[i]
		}
		total = scaled
	}
	schedule := make([]int32, 0, total)
	cur := make([]int, len(w))
	for range total {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		schedule = append(schedule, int32(best))
	}
	return &roundRobin{targets: targets, schedule: schedule}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (r *roundRobin) pick(string) *Target {
	n := r.next.Add(1) - 1
	t := r.targets[r.schedule[n%uint64(len(r.schedule))]]
	if t.p.available() {
		return t
	}
	// Rare: the scheduled target is ejected. Rotate over the available
	// ones so that the ejected target's share is spread, not handed to
	// its neighbour.
	avail := 0
	for _, t := range r.targets {
		if t.p.available() {
			avail++
		}
	}
	if avail == 0 {
		return nil
	}
	k := int(n % uint64(avail)) // #nosec G115 -- below avail, an int
	for _, t := range r.targets {
		if t.p.available() {
			if k == 0 {
				return t
			}
			k--
		}
	}
	return nil // a target was ejected meanwhile
}

// leastConn picks the available target with the fewest in-flight requests
// per unit of weight; the scan starts at a rotating offset so that ties
// rotate instead of always favouring the first target.
type leastConn struct {
	targets []*Target
	next    atomic.Uint64
}

func (l *leastConn) pick(string) *Target {
	n := len(l.targets)
	start := int(l.next.Add(1) % uint64(n)) // #nosec G115 -- below n, an int
	var best *Target
	var bestLoad int64
	for i := range n {
		t := l.targets[(start+i)%n]
		if !t.p.available() {
			continue
		}
		load := t.p.inflight.Load()
		// load/weight < bestLoad/bestWeight, without division.
		if best == nil || load*int64(best.weight) < bestLoad*int64(t.weight) {
			best, bestLoad = t, load
		}
	}
	return best
}

// vnodesPerWeight is the number of ring points per unit of weight.
const vnodesPerWeight = 100

// maxRing bounds the ring size; heavier configurations are scaled down.
const maxRing = 1 << 16

// hashRing is consistent hashing with virtual nodes. A point's position
// depends only on its target's address and index, so removing a target
// moves only the keys that were on its points.
type hashRing struct {
	points []ringPoint
	rr     *roundRobin // for requests without a key
}

type ringPoint struct {
	hash   uint64
	target *Target
}

func newHashRing(targets []*Target) *hashRing {
	total := 0
	for _, t := range targets {
		total += t.weight * vnodesPerWeight
	}
	scale := 1.0
	if total > maxRing {
		scale = float64(maxRing) / float64(total)
	}
	var pts []ringPoint
	for _, t := range targets {
		n := max(1, int(math.Round(float64(t.weight*vnodesPerWeight)*scale)))
		id := t.String()
		for i := range n {
			pts = append(pts, ringPoint{hash: hashString(id + "#" + strconv.Itoa(i)), target: t})
		}
	}
	slices.SortFunc(pts, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return &hashRing{points: pts, rr: newRoundRobin(targets)}
}

func (h *hashRing) pick(key string) *Target {
	if key == "" {
		return h.rr.pick(key)
	}
	k := hashString(key)
	i, _ := slices.BinarySearchFunc(h.points, k, func(p ringPoint, k uint64) int {
		switch {
		case p.hash < k:
			return -1
		case p.hash > k:
			return 1
		}
		return 0
	})
	if t := h.points[i%len(h.points)].target; t.p.available() {
		return t
	}
	// Walk clockwise past ejected targets, unless all are ejected.
	if !anyAvailable(h.rr.targets) {
		return nil
	}
	for j := range h.points {
		if t := h.points[(i+j)%len(h.points)].target; t.p.available() {
			return t
		}
	}
	return nil
}

func anyAvailable(ts []*Target) bool {
	for _, t := range ts {
		if t.p.available() {
			return true
		}
	}
	return false
}

// hashString is FNV-1a 64 with a murmur3 finalizer (FNV alone clusters
// similar keys such as "target#1", "target#2"). It is stable across
// processes, so every gateway instance maps a key to the same target.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb53a85ca63cd
	h ^= h >> 33
	return h
}
