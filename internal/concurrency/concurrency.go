package concurrency

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("concurrency", concurrencyConfig{}, compileConcurrency)
}

// concurrencyConfig is the YAML of a concurrency policy:
//
//   - kind: concurrency
//     max: 100            # requests in flight
//     per: route          # route (default) or consumer
//     queue: 50           # waiting requests beyond max (default 0)
//     queue_timeout: 100ms
type concurrencyConfig struct {
	Max          int             `yaml:"max"`
	Per          string          `yaml:"per,omitempty"`
	Queue        int             `yaml:"queue,omitempty" zero:"value"`
	QueueTimeout config.Duration `yaml:"queue_timeout,omitempty" zero:"value"`
}

const (
	maxConcurrency  = 1 << 20
	maxQueue        = 1 << 16
	maxQueueTimeout = 30 * time.Second
)

// Concurrency bounds the requests in flight on a route, or per consumer.
// It holds a slot from its phase until the request is over.
type Concurrency struct {
	perConsumer bool
	max, queue  int
	wait        time.Duration
	route       *semaphore // per route

	mu    sync.Mutex
	byKey map[string]*keyedSem // per consumer
}

// keyedSem is a consumer's semaphore; its Finish releases it and drops it
// from the map once idle, so the map holds only consumers with requests.
type keyedSem struct {
	*semaphore
	owner *Concurrency
	key   string
}

func compileConcurrency(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cc concurrencyConfig
	if err := d.Decode(&cc); err != nil {
		return nil, err
	}
	switch {
	case cc.Max < 1 || cc.Max > maxConcurrency:
		return nil, fmt.Errorf("max must be from 1 to %d", maxConcurrency)
	case cc.Per != "" && cc.Per != "route" && cc.Per != "consumer":
		return nil, errors.New("per must be route or consumer")
	case cc.Queue < 0 || cc.Queue > maxQueue:
		return nil, fmt.Errorf("queue must be from 0 to %d", maxQueue)
	case cc.QueueTimeout.D() < 0 || cc.QueueTimeout.D() > maxQueueTimeout:
		return nil, errors.New("queue_timeout must be from 0 to 30s")
	case cc.Queue > 0 && cc.QueueTimeout.D() == 0:
		return nil, errors.New("queue_timeout is required with a queue")
	}
	// The counts survive a reload that keeps the same limits, so requests
	// in flight across the reload still count.
	key := fmt.Sprintf("concurrency|%s|%s|%d|%d|%s|%s", env.Route, env.Path, cc.Max, cc.Queue, cc.QueueTimeout.D(), cc.Per)
	v, err := env.State.Get(key, func() (any, error) {
		return NewConcurrency(cc.Max, cc.Queue, cc.QueueTimeout.D(), cc.Per == "consumer"), nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// NewConcurrency returns a limiter of max requests in flight, queueing up
// to queue more for at most wait.
func NewConcurrency(max, queue int, wait time.Duration, perConsumer bool) *Concurrency {
	c := &Concurrency{perConsumer: perConsumer, max: max, queue: queue, wait: wait}
	if perConsumer {
		c.byKey = map[string]*keyedSem{}
	} else {
		c.route = newSemaphore(max, queue)
	}
	return c
}

// Phase is PhaseLimit: after authentication, so a consumer is known.
func (c *Concurrency) Phase() pipeline.Phase { return pipeline.PhaseLimit }

// NeedsIdentity is true for per-consumer limits.
func (c *Concurrency) NeedsIdentity() bool { return c.perConsumer }

// errBusy is shared by every refusal: Problem.Write only reads it.
var errBusy = func() *pipeline.Problem {
	p := pipeline.NewProblem(http.StatusServiceUnavailable, "The service is busy; retry shortly.", "concurrency limit")
	p.Header = http.Header{"Retry-After": {"1"}}
	return p
}()

// Handle takes a slot or answers 503 with Retry-After: 1.
func (c *Concurrency) Handle(pc *pipeline.Context) *pipeline.Problem {
	ctx := pc.Request.Context()
	if !c.perConsumer {
		if !c.route.acquire(ctx, c.wait) {
			return busy()
		}
		pc.OnFinish(routeRelease{c.route})
		return nil
	}
	key := ""
	if pc.Identity != nil {
		key = pc.Identity.Consumer
	}
	c.mu.Lock()
	ks := c.byKey[key]
	if ks == nil {
		ks = &keyedSem{semaphore: newSemaphore(c.max, c.queue), owner: c, key: key}
		c.byKey[key] = ks
	}
	// Counted as a waiter before the lock drops, so it is not pruned.
	ks.pending()
	c.mu.Unlock()
	ok := ks.acquire(ctx, c.wait)
	ks.unpend()
	if !ok {
		c.prune(ks)
		return busy()
	}
	pc.OnFinish(ks)
	return nil
}

func busy() *pipeline.Problem { return errBusy }

type routeRelease struct{ s *semaphore }

func (r routeRelease) Finish(*pipeline.Context) { r.s.release() }

// Finish releases a consumer's slot.
func (k *keyedSem) Finish(*pipeline.Context) {
	k.release()
	k.owner.prune(k)
}

func (k *keyedSem) pending() { k.mu.Lock(); k.refs++; k.mu.Unlock() }
func (k *keyedSem) unpend()  { k.mu.Lock(); k.refs--; k.mu.Unlock() }

func (c *Concurrency) prune(k *keyedSem) {
	c.mu.Lock()
	k.mu.Lock()
	if k.idle() && k.refs == 0 && c.byKey[k.key] == k {
		delete(c.byKey, k.key)
	}
	k.mu.Unlock()
	c.mu.Unlock()
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*Concurrency)(nil)
	_ pipeline.IdentityUser  = (*Concurrency)(nil)
)
