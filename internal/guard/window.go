package guard

import (
	"hash/maphash"
	"net/netip"
	"sync"
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

// counters is a sharded map of sliding logs with bounded size.
type counters struct {
	seed   maphash.Seed
	shards [counterShards]counterShard
}

type counterShard struct {
	mu sync.Mutex
	m  map[counterKey]*slidingLog
}

func newCounters() *counters {
	c := &counters{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[counterKey]*slidingLog{}
	}
	return c
}

func (c *counters) shard(k counterKey) *counterShard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	b := k.addr.As16()
	_, _ = h.Write(b[:])
	_, _ = h.WriteString(k.consumer)
	return &c.shards[h.Sum64()%counterShards]
}

// add counts one event and reports whether the rule's threshold was crossed.
func (c *counters) add(k counterKey, now, window int64, threshold int) (bool, int) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.m[k]
	if l == nil {
		if len(s.m) >= maxPerShard {
			s.evict(now, window)
		}
		l = &slidingLog{}
		s.m[k] = l
	}
	fired := l.add(now, window, threshold)
	return fired, l.n
}

// evict drops logs whose last event is outside their window, or, when a
// short scan finds none, one arbitrary log (map order is random): under a
// flood of distinct sources a few counts are lost rather than memory.
func (s *counterShard) evict(now, window int64) {
	scanned := 0
	var victim counterKey
	for k, l := range s.m {
		if now-l.last > window {
			delete(s.m, k)
			return
		}
		victim = k
		if scanned++; scanned >= evictScanBudget {
			break
		}
	}
	delete(s.m, victim)
}

// size is the number of logs held (tests).
func (c *counters) size() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}
