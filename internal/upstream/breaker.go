package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Breaker states.
const (
	breakerClosed int32 = iota
	breakerOpen
	breakerHalfOpen
)

// breaker is a per-target circuit breaker. Closed, it counts failures in a
// row; at threshold it opens and Pick skips the target for openFor. Then it
// is half-open: trials requests may go through (one permit each); when all
// of them succeed it closes, and any failure opens it again. The fast path
// (closed, success) is two atomic loads; transitions take mu.
type breaker struct {
	threshold int32
	openFor   time.Duration
	trials    int32

	state     atomic.Int32
	fails     atomic.Int32
	until     atomic.Int64    // open: end of the open period; half-open: when unused permits are renewed
	permits   atomic.Int32    // half-open: trial requests still allowed
	onChange  func(to string) // transitions, for the event log; nil in tests
	successes atomic.Int32    // half-open: trials that succeeded

	mu sync.Mutex
}

func newBreaker(threshold int, openFor time.Duration, trials int) *breaker {
	return &breaker{threshold: int32(threshold), openFor: openFor, trials: int32(trials)} // #nosec G115 -- validated small
}

// allows reports whether Pick may choose the target now, moving an open
// breaker whose period ended to half-open. It takes no permit.
func (b *breaker) allows(now int64) bool {
	switch b.state.Load() {
	case breakerClosed:
		return true
	case breakerOpen:
		if now < b.until.Load() {
			return false
		}
		b.mu.Lock()
		if b.state.Load() == breakerOpen && now >= b.until.Load() {
			b.toHalfOpen(now)
		}
		b.mu.Unlock()
		return b.permits.Load() > 0
	default:
		if b.permits.Load() > 0 {
			return true
		}
		// Trials were handed out but never reported (a caller that did not
		// use Forward): renew them after another open period.
		if now >= b.until.Load() {
			b.mu.Lock()
			if b.state.Load() == breakerHalfOpen && now >= b.until.Load() {
				b.toHalfOpen(now)
			}
			b.mu.Unlock()
		}
		return b.permits.Load() > 0
	}
}

// acquire takes a trial permit when half-open. ok is false when none is
// left; trial tells whether the request is a trial (its outcome decides).
func (b *breaker) acquire() (trial, ok bool) {
	switch b.state.Load() {
	case breakerClosed:
		return false, true
	case breakerOpen: // opened again since the pick
		return false, false
	}
	for {
		n := b.permits.Load()
		if n <= 0 {
			return false, false
		}
		if b.permits.CompareAndSwap(n, n-1) {
			return true, true
		}
	}
}

// report records a request's outcome. Outcomes of requests that were not
// trials do not move a half-open breaker; outcomes while open are ignored.
func (b *breaker) report(trial, ok bool, now time.Time) {
	switch b.state.Load() {
	case breakerClosed:
		if ok {
			if b.fails.Load() != 0 {
				b.fails.Store(0)
			}
			return
		}
		if b.fails.Add(1) >= b.threshold {
			b.mu.Lock()
			if b.state.Load() == breakerClosed {
				b.toOpen(now)
			}
			b.mu.Unlock()
		}
	case breakerHalfOpen:
		if !trial {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.state.Load() != breakerHalfOpen {
			return
		}
		if !ok {
			b.toOpen(now)
			return
		}
		if b.successes.Add(1) >= b.trials {
			b.fails.Store(0)
			b.state.Store(breakerClosed)
			b.changed("closed")
		}
	}
}

// toOpen and toHalfOpen need b.mu.
func (b *breaker) toOpen(now time.Time) {
	b.until.Store(now.Add(b.openFor).UnixNano())
	b.state.Store(breakerOpen)
	b.changed("open")
}

func (b *breaker) toHalfOpen(now int64) {
	was := b.state.Load()
	b.successes.Store(0)
	b.permits.Store(b.trials)
	b.until.Store(now + int64(b.openFor))
	b.state.Store(breakerHalfOpen)
	if was != breakerHalfOpen { // renewed permits are no transition
		b.changed("half_open")
	}
}

// changed reports a transition (to the pool's event log); it runs under
// b.mu, once per transition.
func (b *breaker) changed(to string) {
	if b.onChange != nil {
		b.onChange(to)
	}
}

// stateName is the state for logs and tests.
func (b *breaker) stateName() string {
	switch b.state.Load() {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half_open"
	}
	return "closed"
}

// cancelTrial gives back the permit of a trial that ended without an
// outcome (the client went away).
func (b *breaker) cancelTrial() {
	if b.state.Load() == breakerHalfOpen && b.permits.Add(1) > b.trials {
		b.permits.Add(-1)
	}
}
