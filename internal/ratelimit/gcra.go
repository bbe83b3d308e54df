package ratelimit

import (
	"fmt"
	"time"
)

// MaxLimits is the most limits one route (or one plan) may list. A fixed
// bound keeps a decision allocation-free: its state fits in an array.
const MaxLimits = 4

// maxTolerance bounds burst x interval (in microseconds) so that every
// time the algorithm computes stays exact in a Lua number (a double) in
// the Redis script: 2^52 µs is about 142 years.
const maxTolerance = 1 << 52

// Limit is one rate: Rate requests per Per on average, at most Burst at
// once. Burst defaults to Rate, which makes "10000 per 24h" a daily quota
// that may be used at any pace.
type Limit struct {
	Name  string
	Rate  int64
	Per   time.Duration
	Burst int64
}

// param is a Limit in the units the algorithm works in: the emission
// interval T (microseconds between two requests at the steady rate) and
// the burst B.
type param struct {
	T, B int64
}

func (l Limit) param() (param, error) {
	if l.Rate < 1 {
		return param{}, fmt.Errorf("rate must be at least 1")
	}
	if l.Per < time.Second || l.Per%time.Second != 0 {
		return param{}, fmt.Errorf("per must be a whole number of seconds (1s, 1m, 24h), got %s", l.Per)
	}
	if l.Burst < 1 {
		return param{}, fmt.Errorf("burst must be at least 1")
	}
	t := l.Per.Microseconds() / l.Rate
	if t < 1 {
		return param{}, fmt.Errorf("rate %d per %s is more than one request per microsecond", l.Rate, l.Per)
	}
	if l.Burst > maxTolerance/t {
		return param{}, fmt.Errorf("burst %d at one request per %s spans more than a century", l.Burst, time.Duration(t)*time.Microsecond)
	}
	return param{T: t, B: l.Burst}, nil
}

// Result is one decision.
type Result struct {
	// Allowed reports whether every limit admitted the request.
	Allowed bool
	// Now is the time of the decision (microseconds since the Unix epoch,
	// by the store's clock: Redis's own for the Redis store).
	Now int64
	// Wait is, for a refused request, how long until it would be admitted
	// (microseconds).
	Wait int64
	// TAT holds each limit's theoretical arrival time after the decision:
	// the new one when admitted, the unchanged one (at least Now) when not.
	TAT [MaxLimits]int64
}

// gcra decides one request at now against limits ps whose stored TATs are
// stored (0: none). It writes the TATs to keep into out: the advanced ones
// when every limit admits, the old ones otherwise, so a refused request
// consumes nothing from any limit.
//
// For each limit, with T the emission interval and B the burst:
//
//	tat     = max(stored, now)
//	allowAt = tat + T - B*T
//	admit  <=> now >= allowAt, and then stored := tat + T
func gcra(now int64, ps []param, stored []int64, out []int64) (ok bool, wait int64) {
	ok = true
	for i, p := range ps {
		tat := max(stored[i], now)
		out[i] = tat
		if allowAt := tat + p.T - p.B*p.T; now < allowAt {
			ok = false
			wait = max(wait, allowAt-now)
		}
	}
	if ok {
		for i, p := range ps {
			out[i] += p.T
		}
	}
	return ok, wait
}

// remaining is how many more requests limit p admits right now, given its
// TAT after the decision.
func remaining(now int64, p param, tat int64) int64 {
	r := (now + p.B*p.T - tat) / p.T
	return max(r, 0)
}

// reset is, for the RateLimit header's t: when requests remain, the time
// until the full burst is available again; when none do, the time until
// the next request is admitted. Microseconds.
func reset(now int64, p param, tat int64) int64 {
	if remaining(now, p, tat) > 0 {
		return max(tat-now, 0)
	}
	return max(tat+p.T-p.B*p.T-now, 0)
}
