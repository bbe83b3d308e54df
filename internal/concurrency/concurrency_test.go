package concurrency

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func newPC(consumer string) *pipeline.Context {
	c := &pipeline.Context{Request: httptest.NewRequest(http.MethodGet, "/", nil)}
	if consumer != "" {
		c.Identity = &pipeline.Identity{Consumer: consumer}
	}
	return c
}

func TestConcurrencyQueueAndRefusal(t *testing.T) {
	lim := NewConcurrency(2, 1, 2*time.Second, false)
	a, b := newPC(""), newPC("")
	if lim.Handle(a) != nil || lim.Handle(b) != nil {
		t.Fatal("the first two requests must be admitted")
	}
	// The third waits in the queue; the fourth finds the queue full.
	got := make(chan *pipeline.Problem, 1)
	waiter := newPC("")
	go func() { got <- lim.Handle(waiter) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		lim.route.mu.Lock()
		n := len(lim.route.waiters)
		lim.route.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third request never queued")
		}
		time.Sleep(time.Millisecond)
	}
	p := lim.Handle(newPC(""))
	if p == nil || p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") != "1" {
		t.Fatalf("full queue: %+v", p)
	}
	a.Finish() // hands the slot to the waiter
	if p := <-got; p != nil {
		t.Fatalf("queued request refused: %+v", p)
	}
	b.Finish()
	waiter.Finish()
	if !lim.route.idle() {
		t.Fatalf("slots leaked: active=%d", lim.route.active)
	}
}

func TestConcurrencyQueueTimeout(t *testing.T) {
	lim := NewConcurrency(1, 5, 30*time.Millisecond, false)
	a := newPC("")
	if lim.Handle(a) != nil {
		t.Fatal("first request refused")
	}
	start := time.Now()
	if p := lim.Handle(newPC("")); p == nil || p.Status != 503 {
		t.Fatalf("timed-out waiter: %+v", p)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > time.Second {
		t.Fatalf("waited %v, want about the 30ms queue_timeout", d)
	}
	a.Finish()
	if !lim.route.idle() {
		t.Fatal("slot leaked after a timed-out waiter")
	}
}

func TestConcurrencyCanceledWaiter(t *testing.T) {
	lim := NewConcurrency(1, 1, time.Minute, false)
	a := newPC("")
	_ = lim.Handle(a)
	ctx, cancel := context.WithCancel(context.Background())
	w := newPC("")
	w.Request = w.Request.WithContext(ctx)
	cancel()
	if p := lim.Handle(w); p == nil {
		t.Fatal("a request whose client went away must not wait a minute")
	}
	a.Finish()
	if !lim.route.idle() {
		t.Fatal("slot leaked")
	}
}

func TestConcurrencyPerConsumer(t *testing.T) {
	lim := NewConcurrency(1, 0, 0, true)
	if !lim.NeedsIdentity() {
		t.Fatal("per consumer needs an identity")
	}
	a, b := newPC("alice"), newPC("bob")
	if lim.Handle(a) != nil || lim.Handle(b) != nil {
		t.Fatal("one request each must pass")
	}
	if p := lim.Handle(newPC("alice")); p == nil || p.Status != 503 {
		t.Fatal("alice's second request must be refused")
	}
	a.Finish()
	b.Finish()
	lim.mu.Lock()
	n := len(lim.byKey)
	lim.mu.Unlock()
	if n != 0 {
		t.Fatalf("idle consumers kept: %d", n)
	}
}

func BenchmarkConcurrencyRoute(b *testing.B) {
	lim := NewConcurrency(1<<20, 0, 0, false)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := newPC("")
		for pb.Next() {
			if lim.Handle(c) != nil {
				b.Fatal("refused")
			}
			c.Finish()
		}
	})
}
