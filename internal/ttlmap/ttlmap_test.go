package ttlmap

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
)

func key(i int) [32]byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[:], uint64(i)) // #nosec G115 -- test keys
	return k
}

// TestGetPutExpiry: an entry is returned until its expiry and never at or
// after it; a dead entry is not stored; Delete removes; a later Put
// replaces.
func TestGetPutExpiry(t *testing.T) {
	m := New[[32]byte, string](64, 4, FirstByte)
	k := key(1)
	m.Put(&k, "a", 100, 10)
	for _, tc := range []struct {
		desc string
		now  int64
		want bool
	}{
		{"before expiry", 99, true},
		{"at expiry", 100, false},
		{"after expiry", 101, false},
	} {
		if v, ok := m.Get(&k, tc.now); ok != tc.want || (ok && v != "a") {
			t.Errorf("%s: Get = %q, %v", tc.desc, v, ok)
		}
	}
	m.Put(&k, "b", 200, 10)
	if v, ok := m.Get(&k, 150); !ok || v != "b" {
		t.Errorf("replaced: %q %v", v, ok)
	}
	m.Delete(&k)
	if _, ok := m.Get(&k, 10); ok || m.Len() != 0 {
		t.Errorf("after Delete: found %v, len %d", ok, m.Len())
	}
	d := key(2)
	m.Put(&d, "dead", 10, 10)
	if m.Len() != 0 {
		t.Error("an entry dead when put was stored")
	}
}

// TestBounded: a flood of new keys never grows the map past its capacity;
// a full shard evicts an expired entry before a live one.
func TestBounded(t *testing.T) {
	m := New[[32]byte, int](64, 16, FirstByte)
	if m.Capacity() != 64 {
		t.Fatalf("capacity %d", m.Capacity())
	}
	for i := range 10000 {
		k := key(i)
		m.Put(&k, i, 1000, 0)
	}
	if n := m.Len(); n > 64 {
		t.Fatalf("len %d > capacity 64", n)
	}
	// One shard (keys with first byte 0 mod 1): fill it with one expired
	// entry among live ones; the next new key evicts the expired one.
	s := New[[32]byte, int](4, 1, FirstByte)
	for i := range 3 {
		k := key(i)
		s.Put(&k, i, 1000, 0)
	}
	old := key(99)
	s.Put(&old, 99, 50, 0)
	nk := key(100)
	s.Put(&nk, 100, 1000, 60)
	if _, ok := s.Get(&old, 0); ok {
		t.Error("the expired entry survived the eviction")
	}
	for i := range 3 {
		k := key(i)
		if _, ok := s.Get(&k, 60); !ok {
			t.Errorf("live entry %d evicted while an expired one was there", i)
		}
	}
	if _, ok := s.Get(&nk, 60); !ok {
		t.Error("the new entry is missing")
	}
}

// TestAddNeverForgetsLive: Add refuses a key that holds a live entry, and
// a full shard refuses new keys (never evicting a live entry) until its
// entries expire.
func TestAddNeverForgetsLive(t *testing.T) {
	m := New[int, struct{}](4, 1, func(k int) int { return k })
	for i := range 4 {
		if r := m.Add(&i, struct{}{}, 100, 0); r != Added {
			t.Fatalf("add %d: %v", i, r)
		}
	}
	for _, tc := range []struct {
		desc string
		key  int
		now  int64
		want AddResult
	}{
		{"a live key", 2, 10, Present},
		{"a new key, shard full of live entries", 7, 10, Full},
		{"still full a moment later", 7, 99, Full},
		{"the entries expired: room again", 7, 100, Added},
		{"the key now live", 7, 150, Present},
		{"a key whose entry expired", 2, 150, Added},
	} {
		k := tc.key
		if r := m.Add(&k, struct{}{}, 200, tc.now); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, r, tc.want)
		}
	}
	if n := m.Len(); n > 4 {
		t.Fatalf("len %d > 4", n)
	}
}

// TestUpdate: f sees the value held, expired or not, and what it returns
// is stored with its expiry; a new key in a full shard evicts first.
func TestUpdate(t *testing.T) {
	m := New[int, int](2, 1, func(k int) int { return k }).WithEvictScan(64)
	k := 1
	inc := func(v int, found bool) (int, int64) {
		if !found {
			return 1, 100
		}
		return v + 1, 100
	}
	m.Update(&k, 0, inc)
	m.Update(&k, 0, inc)
	if v, ok := m.Get(&k, 50); !ok || v != 2 {
		t.Fatalf("after two updates: %d %v", v, ok)
	}
	// Expired, but still held: f goes on from the old value.
	var sawFound bool
	m.Update(&k, 150, func(v int, found bool) (int, int64) { sawFound = found; return v + 1, 300 })
	if v, _ := m.Get(&k, 200); !sawFound || v != 3 {
		t.Fatalf("update of an expired entry: found %v, value %d", sawFound, v)
	}
	for _, n := range []int{2, 3, 4} {
		m.Update(&n, 200, inc)
	}
	if m.Len() > 2 {
		t.Fatalf("len %d > 2", m.Len())
	}
}

// TestCountPruneRange: Count follows every insert and removal (Put, Add,
// Update, Delete, eviction, Prune) without a lock; Prune drops exactly
// the expired entries; Range sees every entry held.
func TestCountPruneRange(t *testing.T) {
	m := New[int, int](4, 1, func(k int) int { return k })
	check := func(desc string, want int64) {
		t.Helper()
		if m.Count() != want || int64(m.Len()) != want {
			t.Fatalf("%s: Count %d, Len %d, want %d", desc, m.Count(), m.Len(), want)
		}
	}
	one, two, three, four, five := 1, 2, 3, 4, 5
	m.Put(&one, 1, 100, 0)
	m.Put(&one, 1, 100, 0) // same key: no new entry
	m.Add(&two, 2, 50, 0)
	m.Update(&three, 0, func(int, bool) (int, int64) { return 3, 200 })
	check("three inserted", 3)
	m.Delete(&three)
	m.Delete(&three) // absent: no change
	check("one deleted", 2)
	m.Put(&three, 3, 200, 0)
	m.Put(&four, 4, 200, 0)
	m.Put(&five, 5, 200, 60) // full: evicts the expired entry 2
	check("an eviction", 4)
	seen := map[int]int64{}
	m.Range(func(k, _ int, exp int64) { seen[k] = exp })
	if len(seen) != 4 || seen[1] != 100 || seen[5] != 200 {
		t.Fatalf("Range saw %v", seen)
	}
	m.Prune(100)
	check("pruned at 100", 3)
	if _, ok := m.Get(&one, 0); ok {
		t.Fatal("Prune left an expired entry")
	}
}

// TestShardOfAnyInt: a shard function may return any int.
func TestShardOfAnyInt(t *testing.T) {
	m := New[int, int](8, 4, func(k int) int { return k })
	for _, k := range []int{-7, -1, 0, 3, 1 << 40} {
		m.Put(&k, k, 10, 0)
		if v, ok := m.Get(&k, 0); !ok || v != k {
			t.Errorf("key %d: %d %v", k, v, ok)
		}
	}
}

// TestConcurrent: readers and writers on every shard at once (run with
// -race).
func TestConcurrent(t *testing.T) {
	m := New[[32]byte, int](1024, 16, FirstByte)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := key(g*2000 + i)
				m.Put(&k, i, 1000, int64(i%100))
				m.Get(&k, int64(i%100))
				if i%7 == 0 {
					m.Delete(&k)
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() > m.Capacity() {
		t.Fatalf("len %d > capacity %d", m.Len(), m.Capacity())
	}
}

// TestGetAllocatesNothing: a lookup costs no allocation (the request path
// does one per request).
func TestGetAllocatesNothing(t *testing.T) {
	m := New[[32]byte, *int](64, 16, FirstByte)
	v := 1
	k := key(5)
	m.Put(&k, &v, 100, 0)
	if n := testing.AllocsPerRun(100, func() {
		var q [32]byte
		copy(q[:], k[:])
		if _, ok := m.Get(&q, 1); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("Get allocates %.0f times", n)
	}
}

func BenchmarkGetHit(b *testing.B) {
	m := New[[32]byte, int](10000, 16, FirstByte)
	keys := make([][32]byte, 1024)
	for i := range keys {
		keys[i] = key(i * 7919)
		m.Put(&keys[i], i, 1<<62, 0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Get(&keys[i&1023], 1)
			i++
		}
	})
}

func BenchmarkPutFull(b *testing.B) {
	m := New[[32]byte, int](10000, 16, FirstByte)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := key(i)
			m.Put(&k, i, 1<<62, 0)
			i++
		}
	})
}

// TestEvictOldest: a full shard in WithEvictOldest mode drops its expired
// entries, then the entries that expire first down to 7/8 of its bound;
// the entry refreshed last survives a flood of new keys.
func TestEvictOldest(t *testing.T) {
	m := New[int, int](16, 1, func(k int) int { return k }).WithEvictOldest()
	for i := range 16 {
		m.Put(&i, i, int64(1000+i), 0) // entry i expires at 1000+i
	}
	k := 100
	m.Put(&k, 100, 5000, 0) // full: 0 and 1 go (the earliest), down to 14, then k
	if n := m.Len(); n != 15 {
		t.Fatalf("len %d after the eviction, want 15 (7/8 of 16, then the new key)", n)
	}
	for i := range 16 {
		if _, ok := m.Get(&i, 0); ok != (i >= 2) {
			t.Errorf("entry %d (expiry %d) held %v", i, 1000+i, ok)
		}
	}
	// Expired entries go first, however late the others expire.
	e := New[int, int](8, 1, func(k int) int { return k }).WithEvictOldest()
	for i := range 8 {
		e.Put(&i, i, int64(100+i*100), 0)
	}
	n := 50
	e.Put(&n, 50, 10_000, 450) // 0..3 expired at 450: swept, nothing live dropped
	for i := 4; i < 8; i++ {
		if _, ok := e.Get(&i, 450); !ok {
			t.Errorf("live entry %d dropped while expired ones were there", i)
		}
	}
	if e.Count() != 5 {
		t.Errorf("count %d, want 5", e.Count())
	}
	// A hot key, refreshed on every round, survives a flood.
	h := NewStrings[int](64, 1).WithEvictOldest()
	hot := []byte("hot")
	for now := int64(1); now < 5000; now++ {
		h.UpdateBytes(hot, now, func(v *int, _ bool) (int64, bool) { *v++; return now + 1000, true })
		k := []byte(fmt.Sprint("cold-", now))
		h.UpdateBytes(k, now, func(v *int, _ bool) (int64, bool) { return now + 500, true })
		if h.Len() > 64 {
			t.Fatalf("len %d > 64", h.Len())
		}
	}
	if v, ok := h.GetBytes(hot, 5000); !ok || v != 4999 {
		t.Fatalf("hot key: %d %v, want 4999 updates kept", v, ok)
	}
}

// TestStringsBytes: a Strings map finds a key given as string or as
// bytes in the same entry; UpdateBytes sees a live value only, stores
// only when f says so, and a refused new key takes no place.
func TestStringsBytes(t *testing.T) {
	m := NewStrings[int](64, 5) // rounded up to 8 shards
	if len(m.shards) != 8 {
		t.Fatalf("%d shards, want 8", len(m.shards))
	}
	for i := range 200 {
		s := fmt.Sprint("key-", i)
		m.Put(&s, i, 100, 0)
		if v, ok := m.GetBytes([]byte(s), 50); ok && v != i {
			t.Fatalf("%s: bytes lookup found %d", s, v)
		}
	}
	a := "a"
	m.Put(&a, 7, 100, 0)
	if v, ok := m.GetBytes([]byte("a"), 99); !ok || v != 7 {
		t.Fatalf("GetBytes = %d %v", v, ok)
	}
	if _, ok := m.GetBytes([]byte("a"), 100); ok {
		t.Fatal("GetBytes returned an entry at its expiry")
	}
	var saw []int
	add := func(now, exp int64, store bool) {
		m.UpdateBytes([]byte("a"), now, func(v *int, live bool) (int64, bool) {
			if !live && *v != 0 {
				t.Errorf("not live, but f got %d", *v)
			}
			saw = append(saw, *v)
			*v++
			return exp, store
		})
	}
	add(10, 200, true)  // live 7 -> 8 until 200
	add(20, 300, false) // not stored: stays 8 until 200
	add(200, 300, true) // expired: 0 -> 1 until 300
	if v, ok := m.GetBytes([]byte("a"), 250); !ok || v != 1 || fmt.Sprint(saw) != "[7 8 0]" {
		t.Fatalf("after updates: %d %v, f saw %v", v, ok, saw)
	}
	before := m.Len()
	m.UpdateBytes([]byte("new"), 0, func(*int, bool) (int64, bool) { return 100, false })
	if m.Len() != before {
		t.Fatal("a new key that f did not store takes a place")
	}
}

// TestBytesAllocateNothing: looking a key up as bytes, and updating a key
// held, allocate nothing.
func TestBytesAllocateNothing(t *testing.T) {
	m := NewStrings[[4]int64](64, 4)
	k := []byte("r::a:192.0.2.1")
	m.UpdateBytes(k, 0, func(v *[4]int64, _ bool) (int64, bool) { return 1 << 62, true })
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := m.GetBytes(k, 1); !ok {
			t.Fatal("miss")
		}
		m.UpdateBytes(k, 1, func(v *[4]int64, live bool) (int64, bool) { v[0]++; return 1 << 62, live })
	}); n != 0 {
		t.Fatalf("%.0f allocations", n)
	}
}

func BenchmarkUpdateBytes(b *testing.B) {
	m := NewStrings[[4]int64](100000, 64).WithEvictOldest()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("r::a:10.0.", i>>8, ".", i&255))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.UpdateBytes(keys[i&1023], 1, func(v *[4]int64, _ bool) (int64, bool) { v[0]++; return 1 << 62, true })
			i++
		}
	})
}
