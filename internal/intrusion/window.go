package intrusion

import (
	"hash/maphash"
	"net/netip"

	"github.com/portcullis/portcullis/internal/ttlmap"
)

// counterKey is one rule's count for one client address or consumer.
type counterKey struct {
	rule     int
	addr     netip.Addr
	consumer string
}

// slidingLog holds the times of the last threshold events: the rule fires
// when the oldest of them is still inside the window. Exact, and bounded
// by the threshold.
type slidingLog struct {
	times []int64 // ring of unix nanoseconds
	next  int
	n     int
	last  int64
}

// add records an event at now and reports whether threshold events fall
// within window; the log is then cleared, so the next crossing needs
// threshold new events.
func (l *slidingLog) add(now, window int64, threshold int) bool {
	if l.times == nil {
		l.times = make([]int64, threshold)
	}
	l.times[l.next] = now
	l.next = (l.next + 1) % threshold
	if l.n < threshold {
		l.n++
	}
	l.last = now
	if l.n < threshold {
		return false
	}
	oldest := l.times[l.next] // the ring is full: next is the oldest
	if now-oldest > window {
		return false
	}
	l.n, l.next = 0, 0
	return true
}

const (
	counterShards   = 64
	maxPerShard     = 4096 // bounds memory under a flood of distinct sources
	evictScanBudget = 64
)

// counters is the sliding logs by rule and source: a ttlmap (bounded,
// sharded) whose entry expires once its last event is outside its window.
// Under a flood of distinct sources a full shard drops such a log, or when
// a scan of evictScanBudget finds none an arbitrary one: a few counts are
// lost rather than memory.
type counters struct {
	m *ttlmap.Map[counterKey, *slidingLog]
}

func newCounters() *counters {
	seed := maphash.MakeSeed()
	return &counters{m: ttlmap.New[counterKey, *slidingLog](counterShards*maxPerShard, counterShards, func(k counterKey) int {
		var h maphash.Hash
		h.SetSeed(seed)
		b := k.addr.As16()
		_, _ = h.Write(b[:])
		_, _ = h.WriteString(k.consumer)
		return int(h.Sum64() % counterShards) // #nosec G115 -- reduced below 64
	}).WithEvictScan(evictScanBudget)}
}

// add counts one event and reports whether the rule's threshold was crossed.
func (c *counters) add(k counterKey, now, window int64, threshold int) (fired bool, n int) {
	c.m.Update(&k, now, func(l *slidingLog, found bool) (*slidingLog, int64) {
		if !found {
			l = &slidingLog{}
		}
		fired = l.add(now, window, threshold)
		n = l.n
		// Expired once now-last > window: the first instant after it.
		return l, l.last + window + 1
	})
	return fired, n
}

// size is the number of logs held (tests).
func (c *counters) size() int { return c.m.Len() }
