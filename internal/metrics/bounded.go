package metrics

import "sync"

// Other is the value a bounded label takes once its limit is reached.
const Other = "other"

// Bounded admits at most max distinct values for one label; later new
// values become Other. Policies report their reasons from fixed sets, but
// a reason built from an error's text could carry anything: this is the
// guarantee that whatever a client sends, a label cannot grow without end.
type Bounded struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

// NewBounded returns a Bounded admitting max values.
func NewBounded(max int) *Bounded { return &Bounded{max: max, seen: map[string]struct{}{}} }

// Value returns v when it is admitted, Other when the limit is reached.
func (b *Bounded) Value(v string) string {
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}
