package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLocalBoundedUnderFlood(t *testing.T) {
	l := NewLocal(64 * 16) // 16 keys per shard
	ps := []param{{T: 1_000_000, B: 1}}
	now := int64(1_000_000_000)
	// A flood of distinct keys whose TATs are all in the future: nothing
	// expires, so eviction must drop the oldest.
	for i := range 20_000 {
		now++
		if !l.allow(now, []byte(fmt.Sprintf("flood-%d", i)), ps).Allowed {
			t.Fatal("a new key was refused")
		}
		if n := l.Len(); i%97 == 0 && n > 64*16 {
			t.Fatalf("after %d keys the store holds %d, cap %d", i, n, 64*16)
		}
	}
	// A key that is in use stays limited while the flood goes on: the
	// oldest entries go first, and a hot key's TAT is the newest.
	hot := []byte("hot")
	if !l.allow(now, hot, ps).Allowed {
		t.Fatal("hot key refused at first")
	}
	for range 3 {
		now++
		if l.allow(now, hot, ps).Allowed {
			t.Fatal("hot key admitted twice within its interval")
		}
		for i := range 5 {
			l.allow(now, []byte(fmt.Sprintf("more-%d-%d", now, i)), ps)
		}
	}
}

func TestLocalExpiredSweptFirst(t *testing.T) {
	l := NewLocal(64 * 8)
	ps := []param{{T: 1_000, B: 1}} // entries expire 1ms after their request
	now := int64(1_000_000_000)
	for i := range 10_000 {
		l.allow(now, []byte(fmt.Sprintf("k%d", i)), ps)
		now += 2_000 // every earlier entry has expired by the next request
	}
	if n := l.Len(); n > 64*8 {
		t.Fatalf("holds %d keys", n)
	}
}

func TestLocalConcurrentExact(t *testing.T) {
	// Many goroutines on one key at one instant: exactly the burst passes.
	l := NewLocal(0)
	ps := []param{{T: 1_000_000, B: 100}}
	now := time.Now().UnixMicro()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.allow(now, []byte("same"), ps).Allowed {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Fatalf("admitted %d of 400, want exactly 100", ok.Load())
	}
}
