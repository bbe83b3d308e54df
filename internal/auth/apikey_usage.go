package auth

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Usage of API keys, per key id: kept in the gateway's long-lived state,
// so reloads do not reset it, and updated on the request path with atomics
// only (no lock). The key itself is never stored.

// KeyUsage is what is known about one key's use since the process started.
type KeyUsage struct {
	// ID is the key's id from the config; Consumer its consumer at the
	// last compile.
	// The JSON names are those of the admin API's usage view.
	ID       string `json:"key_id"`
	Consumer string `json:"consumer"`
	// Requests counts accepted requests; Refused counts requests with
	// this key refused because it had expired or was rotated out (a client
	// still using an old key).
	Requests uint64 `json:"requests"`
	Refused  uint64 `json:"refused"`
	// LastUsed is when the key was last presented (accepted or refused),
	// to the second; zero when never.
	LastUsed time.Time `json:"last_used,omitzero"`
	// LastClient is the client address of that request.
	LastClient netip.Addr `json:"last_client,omitzero"`
}

// UsageOf returns the usage of every key the gateway has known since it
// started, sorted by id, for the admin API and metrics.
func UsageOf(state *pipeline.SharedValues) []KeyUsage {
	s, err := keyUsageStoreOf(state)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	out := make([]KeyUsage, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c.snapshot())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// keyUsageStore holds one counter per key id; the lock is taken only when a
// snapshot is compiled or usage is read, never per request.
type keyUsageStore struct {
	mu   sync.Mutex
	byID map[string]*keyCounter
}

func keyUsageStoreOf(state *pipeline.SharedValues) (*keyUsageStore, error) {
	v, err := state.Get("auth.api_key.usage", func() (any, error) {
		return &keyUsageStore{byID: map[string]*keyCounter{}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keyUsageStore), nil
}

// counter returns the counter of id, creating it, and records its
// current consumer.
func (s *keyUsageStore) counter(id, consumer string) *keyCounter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID[id]
	if c == nil {
		c = &keyCounter{id: id}
		s.byID[id] = c
	}
	c.consumer.Store(&consumer)
	return c
}

type keyCounter struct {
	id         string
	consumer   atomic.Pointer[string]
	requests   atomic.Uint64
	refused    atomic.Uint64
	lastUsed   atomic.Int64 // unix seconds
	lastClient atomic.Pointer[netip.Addr]
}

func (k *keyCounter) use(now time.Time, client netip.Addr) {
	k.requests.Add(1)
	k.touch(now, client)
}

func (k *keyCounter) refuse(now time.Time, client netip.Addr) {
	k.refused.Add(1)
	k.touch(now, client)
}

// touch records the time and client, writing only when they changed: a
// busy key from one client costs two atomic loads, not contended stores.
func (k *keyCounter) touch(now time.Time, client netip.Addr) {
	if sec := now.Unix(); k.lastUsed.Load() < sec {
		k.lastUsed.Store(sec)
	}
	if p := k.lastClient.Load(); p == nil || *p != client {
		a := client // allocated only when the client changes
		k.lastClient.Store(&a)
	}
}

func (k *keyCounter) snapshot() KeyUsage {
	u := KeyUsage{ID: k.id, Requests: k.requests.Load(), Refused: k.refused.Load()}
	if c := k.consumer.Load(); c != nil {
		u.Consumer = *c
	}
	if sec := k.lastUsed.Load(); sec != 0 {
		u.LastUsed = time.Unix(sec, 0).UTC()
	}
	if a := k.lastClient.Load(); a != nil {
		u.LastClient = *a
	}
	return u
}
