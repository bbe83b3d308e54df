package ratelimit

import (
	"testing"
	"time"
)

func mustParam(t *testing.T, rate int64, per time.Duration, burst int64) param {
	t.Helper()
	p, err := Limit{Rate: rate, Per: per, Burst: burst}.param()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// step runs one decision against a single stored TAT, keeping it when admitted.
func step(now int64, ps []param, st []int64) (bool, int64) {
	var out [MaxLimits]int64
	ok, wait := gcra(now, ps, st, out[:len(ps)])
	if ok {
		copy(st, out[:len(ps)])
	}
	return ok, wait
}

func TestGCRABurstThenSteadyRate(t *testing.T) {
	p := mustParam(t, 10, time.Second, 5) // T = 100ms, 5 at once
	ps := []param{p}
	st := []int64{0}
	now := int64(1_000_000_000)
	for i := range 5 {
		if ok, _ := step(now, ps, st); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := step(now, ps, st)
	if ok || wait != 100_000 {
		t.Fatalf("6th: ok=%v wait=%dµs, want refused, 100ms", ok, wait)
	}
	// Steady rate: exactly one per 100ms from now on, never two.
	for i := range 20 {
		now += 100_000
		if ok, _ := step(now, ps, st); !ok {
			t.Fatalf("steady request %d refused", i)
		}
		if ok, _ := step(now, ps, st); ok {
			t.Fatalf("steady step %d admitted two", i)
		}
	}
	// One microsecond early is refused.
	if ok, w := step(now+99_999, ps, st); ok || w != 1 {
		t.Fatalf("early: ok=%v wait=%d", ok, w)
	}
}

func TestGCRANoDoubleAtWindowBoundary(t *testing.T) {
	// A fixed window of 10 per second admits 10 at 0.99s and 10 more at
	// 1.01s. GCRA admits the burst, then only what the rate earned since.
	p := mustParam(t, 10, time.Second, 10)
	ps, st := []param{p}, []int64{0}
	base := int64(5_000_000_000)
	admitted := 0
	for range 10 {
		if ok, _ := step(base+990_000, ps, st); ok {
			admitted++
		}
	}
	for range 10 {
		if ok, _ := step(base+1_010_000, ps, st); ok {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("admitted %d around the boundary, want 10", admitted)
	}
	// Over any interval of length L at full demand: at most burst + L/T.
	for _, l := range []int64{50_000, 250_000, 1_000_000, 3_333_333} {
		st[0] = 0
		start, n := int64(9_000_000_000), int64(0)
		for now := start; now <= start+l; now += 1_000 { // a request every ms
			if ok, _ := step(now, ps, st); ok {
				n++
			}
		}
		if want := p.B + l/p.T; n != want {
			t.Errorf("interval %dµs: admitted %d, want %d", l, n, want)
		}
	}
}

func TestGCRARefusedConsumeNothing(t *testing.T) {
	// Two limits: 10/s burst 2 and 3 per minute. The minute limit refuses
	// the 4th request; that refusal must not take from the second limit
	// either, and hammering while refused must not push the retry time.
	ps := []param{mustParam(t, 10, time.Second, 2), mustParam(t, 3, time.Minute, 3)}
	st := []int64{0, 0}
	now := int64(1_000_000_000)
	for i := range 3 {
		if ok, _ := step(now+int64(i)*200_000, ps, st); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	before := append([]int64(nil), st...)
	var first int64
	for i := range 100 {
		ok, w := step(now+600_000+int64(i)*1_000, ps, st)
		if ok {
			t.Fatal("4th request in the minute admitted")
		}
		if i == 0 {
			first = w
		} else if w != first-int64(i)*1_000 {
			t.Fatalf("wait grew while refused: %d then %d", first, w)
		}
	}
	if st[0] != before[0] || st[1] != before[1] {
		t.Fatalf("refused requests changed state: %v -> %v", before, st)
	}
	// The client that backs off gets back in exactly when told.
	back := now + 600_000 + first
	if ok, _ := step(back-1, ps, st); ok {
		t.Fatal("admitted before the wait was over")
	}
	if ok, _ := step(back, ps, st); !ok {
		t.Fatal("refused after waiting as told")
	}
}

func TestGCRARemainingAndReset(t *testing.T) {
	p := mustParam(t, 10, time.Second, 10)
	now := int64(1_000_000_000)
	tat := now + p.T // one request made
	if r := remaining(now, p, tat); r != 9 {
		t.Fatalf("remaining %d, want 9", r)
	}
	if r := reset(now, p, tat); r != 100_000 {
		t.Fatalf("reset %d, want 100ms", r)
	}
	full := now + p.B*p.T
	if r := remaining(now, p, full); r != 0 {
		t.Fatalf("remaining %d, want 0", r)
	}
	if r := reset(now, p, full); r != p.T {
		t.Fatalf("reset when empty %d, want T", r)
	}
}

func TestLimitValidation(t *testing.T) {
	for _, l := range []Limit{
		{Rate: 0, Per: time.Second, Burst: 1},
		{Rate: 1, Per: 500 * time.Millisecond, Burst: 1},
		{Rate: 1, Per: 1500 * time.Millisecond, Burst: 1},
		{Rate: 1, Per: time.Second, Burst: 0},
		{Rate: 2_000_000, Per: time.Second, Burst: 1},
		{Rate: 1, Per: 24 * time.Hour, Burst: 1 << 40},
	} {
		if _, err := l.param(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}
