package assertion

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Keyring remembers, across reloads, the keys that left the
// configuration, and keeps publishing them for a while: an assertion
// signed by the previous key just before a reload must still verify at a
// service that refreshes its key set just after it. It lives in the
// gateway's long-lived policy state.
type Keyring struct {
	mu      sync.Mutex
	last    map[string]jose.JSONWebKey // the keys of the latest compile
	retired map[string]retiredKey
	now     func() time.Time
}

type retiredKey struct {
	key   jose.JSONWebKey
	until time.Time
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring {
	return &Keyring{last: map[string]jose.JSONWebKey{}, retired: map[string]retiredKey{}, now: time.Now}
}

// update records the keys of a new configuration; those of the previous
// one that are gone stay published for hold.
func (r *Keyring) update(keys []*Key, hold time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	cur := make(map[string]jose.JSONWebKey, len(keys))
	for _, k := range keys {
		cur[k.ID] = k.public
		delete(r.retired, k.ID)
	}
	for id, k := range r.last {
		if _, kept := cur[id]; !kept {
			r.retired[id] = retiredKey{key: k, until: now.Add(hold)}
		}
	}
	r.last = cur
}

// jwks is the key set to publish: keys, then the retired keys still held.
func (r *Keyring) jwks(keys []*Key) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	seen := map[string]bool{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public)
		seen[k.ID] = true
	}
	if r != nil {
		r.mu.Lock()
		now := r.now()
		for id, rk := range r.retired {
			switch {
			case now.After(rk.until):
				delete(r.retired, id)
			case !seen[id]:
				set.Keys = append(set.Keys, rk.key)
			}
		}
		r.mu.Unlock()
	}
	return json.Marshal(set)
}
