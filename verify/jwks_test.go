package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksServer serves the keys it holds and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	keys  []jose.JSONWebKey
	count atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(kid string) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s.mu.Lock()
	s.keys = append(s.keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: "EdDSA", Use: "sig"})
	s.mu.Unlock()
}

func TestUnknownKeyIDFetchesOnceAndWaitsForTheGap(t *testing.T) {
	srv := newJWKSServer(t)
	srv.add("k1")
	ks := &keySource{url: srv.URL, client: srv.Client(), refreshEvery: time.Hour, minGap: 300 * time.Millisecond, now: time.Now}
	if _, err := ks.key(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	// A key the gateway starts using right after the first fetch: the
	// caller waits for the gap instead of being refused.
	srv.add("k2")
	start := time.Now()
	if _, err := ks.key(context.Background(), "k2"); err != nil {
		t.Fatalf("a new key id was refused: %v", err)
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Error("fetched again without waiting for the minimum gap")
	}
	// A flood of forged key ids: concurrent callers share one fetch.
	before := srv.count.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ks.key(context.Background(), "forged"); err == nil {
				t.Error("a forged key id resolved")
			}
		}()
	}
	wg.Wait()
	if n := srv.count.Load() - before; n > 2 {
		t.Errorf("50 forged key ids cost %d JWKS fetches, want at most 2", n)
	}
}
