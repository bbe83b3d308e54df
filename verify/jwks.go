package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keySource holds the gateway's public keys by key id, fetched from the
// JWKS URL (or given once), refreshed in the background when older than
// refreshEvery, and at once (within minGap of the previous fetch) when a
// token names a key id it does not know.
type keySource struct {
	url          string
	client       *http.Client
	refreshEvery time.Duration
	minGap       time.Duration
	now          func() time.Time

	mu        sync.Mutex
	keys      map[string]jose.JSONWebKey
	fetchedAt time.Time
	lastTry   time.Time
	inflight  chan struct{} // closed when the running fetch ends
	// refreshing is set while a background refresh runs.
	refreshing atomic.Bool
	lastErr    error
}

// maxJWKSBytes bounds the JWKS document read from the gateway.
const maxJWKSBytes = 1 << 20

// parseKeySet keeps the public signature keys of a JWKS whose algorithm
// is EdDSA or ES256; anything else is left out.
func parseKeySet(data []byte) (map[string]jose.JSONWebKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.IsPublic() || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Algorithm != string(jose.EdDSA) && k.Algorithm != string(jose.ES256) {
			continue
		}
		keys[k.KeyID] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS holds no EdDSA or ES256 signature key")
	}
	return keys, nil
}

// key returns the key for kid, fetching the JWKS when kid is unknown or
// the keys are stale.
func (s *keySource) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	s.mu.Lock()
	k, ok := s.keys[kid]
	stale := s.url != "" && s.now().Sub(s.fetchedAt) > s.refreshEvery
	s.mu.Unlock()
	if ok {
		// One background refresh at a time: requests arriving meanwhile
		// keep using the cached keys without starting their own.
		if stale && s.refreshing.CompareAndSwap(false, true) {
			// #nosec G118 -- a background refresh must outlive the request that noticed the keys were stale
			go func() {
				defer s.refreshing.Store(false)
				_ = s.fetch(context.Background())
			}()
		}
		return k, nil
	}
	if s.url == "" {
		return jose.JSONWebKey{}, fmt.Errorf("unknown key id %q", kid)
	}
	if err := s.fetch(ctx); err != nil {
		return jose.JSONWebKey{}, err
	}
	s.mu.Lock()
	k, ok = s.keys[kid]
	s.mu.Unlock()
	if !ok {
		return jose.JSONWebKey{}, fmt.Errorf("unknown key id %q", kid)
	}
	return k, nil
}

// fetch refreshes the keys. Concurrent callers share one fetch; fetches
// are at least minGap apart (a caller waits for the gap rather than
// failing), so a flood of unknown key ids costs the gateway at most one
// JWKS request per minGap.
func (s *keySource) fetch(ctx context.Context) error {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lastErr
	}
	ch := make(chan struct{})
	s.inflight = ch
	wait := s.minGap - s.now().Sub(s.lastTry)
	s.mu.Unlock()

	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	// The fetch itself is not tied to one caller's context: others wait on it.
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	keys, err := s.download(fctx)
	cancel()

	s.mu.Lock()
	s.lastTry = s.now()
	s.lastErr = err
	if err == nil {
		s.keys, s.fetchedAt = keys, s.lastTry
	}
	s.inflight = nil
	s.mu.Unlock()
	close(ch)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (s *keySource) download(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the gateway's JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the gateway's JWKS: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching the gateway's JWKS: %w", err)
	}
	if len(data) > maxJWKSBytes {
		return nil, errors.New("the gateway's JWKS is larger than 1 MiB")
	}
	return parseKeySet(data)
}
