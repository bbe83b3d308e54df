package telemetry

import (
	"sync"
	"testing"
)

func TestCountersConcurrentInc(t *testing.T) {
	type key struct{ A, B string }
	c := NewCounters[key]()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Inc(key{"r", "x"})
				if i%2 == 0 {
					c.Inc(key{"r", "y"})
				}
			}
		}()
	}
	wg.Wait()
	got := map[key]uint64{}
	c.Each(func(k key, v uint64) { got[k] = v })
	if got[key{"r", "x"}] != 8000 || got[key{"r", "y"}] != 4000 || len(got) != 2 {
		t.Fatalf("counts %v", got)
	}
}
