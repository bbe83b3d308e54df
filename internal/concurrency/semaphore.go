package concurrency

import (
	"context"
	"sync"
	"time"
)

// semaphore admits up to max holders; up to queue more wait in FIFO order
// for at most a deadline. A released slot is handed straight to the
// oldest waiter, so a newcomer can never overtake the queue.
type semaphore struct {
	max, queue int

	mu      sync.Mutex
	active  int
	waiters []chan struct{} // FIFO; each is closed when granted a slot
	refs    int             // callers about to acquire (per-consumer pruning)
}

func newSemaphore(max, queue int) *semaphore {
	return &semaphore{max: max, queue: queue}
}

// acquire reports whether the caller holds a slot. It waits at most wait,
// and not after ctx ends.
func (s *semaphore) acquire(ctx context.Context, wait time.Duration) bool {
	s.mu.Lock()
	if s.active < s.max && len(s.waiters) == 0 {
		s.active++
		s.mu.Unlock()
		return true
	}
	if len(s.waiters) >= s.queue || wait <= 0 {
		s.mu.Unlock()
		return false
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiters {
		if w == ch {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return false
		}
	}
	// Granted between the deadline and the lock: the slot is ours.
	return true
}

// release gives the slot to the oldest waiter, or frees it.
func (s *semaphore) release() {
	s.mu.Lock()
	if len(s.waiters) > 0 {
		ch := s.waiters[0]
		s.waiters[0] = nil
		s.waiters = s.waiters[1:]
		s.mu.Unlock()
		close(ch)
		return
	}
	if s.active > 0 {
		s.active--
	}
	s.mu.Unlock()
}

// idle reports whether nobody holds or waits for the semaphore.
func (s *semaphore) idle() bool {
	return s.active == 0 && len(s.waiters) == 0
}
