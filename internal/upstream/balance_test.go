package upstream

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func weighted(t *testing.T, r *Registry, algo string, weights ...int) *Service {
	t.Helper()
	cfg := config.Service{Name: "lb", LoadBalancing: config.LoadBalancing{Algorithm: algo}}
	for i, w := range weights {
		cfg.Targets = append(cfg.Targets, config.Target{URL: fmt.Sprintf("http://10.0.0.%d:80", i+1), Weight: w})
	}
	return mustService(t, r, cfg)
}

func eject(tg *Target) { tg.p.ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano()) }

func TestRoundRobinWeights(t *testing.T) {
	s := weighted(t, testRegistry(t), "round_robin", 1, 3)
	counts := map[*Target]int{}
	var seq []int
	for range 400 {
		tg, err := s.Pick("")
		if err != nil {
			t.Fatal(err)
		}
		counts[tg]++
		if len(seq) < 8 {
			seq = append(seq, tg.Weight())
		}
		tg.Release()
	}
	if counts[s.targets[0]] != 100 || counts[s.targets[1]] != 300 {
		t.Fatalf("1:3 weights gave %d:%d", counts[s.targets[0]], counts[s.targets[1]])
	}
	// Smooth: the light target is spread out, never two in a row.
	for i := 1; i < len(seq); i++ {
		if seq[i] == 1 && seq[i-1] == 1 {
			t.Fatalf("not smooth: %v", seq)
		}
	}
	eject(s.targets[1])
	for range 10 {
		tg, err := s.Pick("")
		if err != nil || tg != s.targets[0] {
			t.Fatalf("ejected target picked: %v %v", tg, err)
		}
		tg.Release()
	}
	eject(s.targets[0])
	if _, err := s.Pick(""); err != ErrNoHealthyTarget {
		t.Fatalf("all ejected: %v", err)
	}
}

func TestRoundRobinLargeWeights(t *testing.T) {
	s := weighted(t, testRegistry(t), "round_robin", 1, 40000)
	rr := s.bal.(*roundRobin)
	if len(rr.schedule) > maxSchedule+2 {
		t.Fatalf("schedule of %d entries", len(rr.schedule))
	}
	light := 0
	for _, i := range rr.schedule {
		if i == 0 {
			light++
		}
	}
	if light != 1 {
		t.Fatalf("light target appears %d times, want 1", light)
	}
}

func TestLeastConnections(t *testing.T) {
	s := weighted(t, testRegistry(t), "least_connections", 1, 1)
	a, _ := s.Pick("")
	for range 10 { // a is busy: the idle target wins every time
		b, _ := s.Pick("")
		if b == a {
			t.Fatal("least_connections picked the busy target")
		}
		b.Release()
	}
	a.Release()
	// Ties rotate.
	seen := map[*Target]int{}
	for range 10 {
		tg, _ := s.Pick("")
		seen[tg]++
		tg.Release()
	}
	if len(seen) != 2 {
		t.Fatalf("ties did not rotate: %v", seen)
	}
	// Weight-aware: with weights 1:3, holding every pick, the heavy target
	// carries three times the load.
	w := weighted(t, testRegistry(t), "least_connections", 1, 3)
	held := map[*Target]int{}
	for range 40 {
		tg, _ := w.Pick("")
		held[tg]++
	}
	if held[w.targets[0]] != 10 || held[w.targets[1]] != 30 {
		t.Fatalf("weighted least-conn load %d:%d, want 10:30", held[w.targets[0]], held[w.targets[1]])
	}
	eject(w.targets[1])
	if tg, _ := w.Pick(""); tg != w.targets[0] {
		t.Fatal("picked an ejected target")
	}
}

func TestConsistentHash(t *testing.T) {
	r := testRegistry(t)
	s := weighted(t, r, "consistent_hash", 1, 1, 1, 1, 1)
	keys := make([]string, 2000)
	before := map[string]*Target{}
	counts := map[*Target]int{}
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.100.%d:%d", i%250, i)
		tg, _ := s.Pick(keys[i])
		tg.Release()
		before[keys[i]] = tg
		counts[tg]++
		if again, _ := s.Pick(keys[i]); again != tg {
			t.Fatal("same key, different target")
		} else {
			again.Release()
		}
	}
	for tg, n := range counts {
		if n < 2000/5/2 || n > 2000/5*2 {
			t.Errorf("target %s got %d of 2000 keys", tg, n)
		}
	}
	// Remove the third target: only its keys move.
	cfg := config.Service{Name: "lb", LoadBalancing: config.LoadBalancing{Algorithm: "consistent_hash"}}
	for _, tg := range s.targets {
		if tg != s.targets[2] {
			cfg.Targets = append(cfg.Targets, config.Target{URL: tg.String()})
		}
	}
	s2 := mustService(t, r, cfg)
	moved := 0
	for _, k := range keys {
		tg, _ := s2.Pick(k)
		tg.Release()
		if tg.p != before[k].p {
			moved++
			if before[k] != s.targets[2] {
				t.Fatalf("key %s moved from a target that stayed", k)
			}
		}
	}
	if moved != counts[s.targets[2]] {
		t.Fatalf("moved %d keys, the removed target had %d", moved, counts[s.targets[2]])
	}
	// No key: round robin.
	a, _ := s2.Pick("")
	b, _ := s2.Pick("")
	a.Release()
	b.Release()
	if a == b {
		t.Fatal("empty key did not rotate")
	}
	// An ejected target's keys go elsewhere; others stay.
	eject(s.targets[0])
	for _, k := range keys[:200] {
		tg, err := s.Pick(k)
		if err != nil {
			t.Fatal(err)
		}
		tg.Release()
		if tg == s.targets[0] || (before[k] != s.targets[0] && tg != before[k]) {
			t.Fatalf("key %s: ejection moved it wrongly", k)
		}
	}
	// Weights: 1:3 gives roughly a quarter of the keys to the light one.
	w := weighted(t, testRegistry(t), "consistent_hash", 1, 3)
	light := 0
	for _, k := range keys {
		tg, _ := w.Pick(k)
		tg.Release()
		if tg == w.targets[0] {
			light++
		}
	}
	if light < 300 || light > 700 {
		t.Fatalf("weight 1 of 4 got %d of 2000 keys", light)
	}
}

func TestConsistentHashAllEjected(t *testing.T) {
	s := weighted(t, testRegistry(t), "consistent_hash", 1, 2)
	eject(s.targets[0])
	eject(s.targets[1])
	if _, err := s.Pick("key"); err != ErrNoHealthyTarget {
		t.Fatalf("all ejected: %v", err)
	}
	if _, err := s.Pick(""); err != ErrNoHealthyTarget {
		t.Fatalf("all ejected, no key: %v", err)
	}
}
