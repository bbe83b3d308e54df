package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/store"
)

// throttleRuntime is the little of a Runtime the login handler reads: the
// file config (client_ipv6_prefix), the store's health, no detector. Any
// other method panics (the embedded nil interface): the login must not
// need it.
type throttleRuntime struct {
	Runtime
	cfg *config.Config
}

func (r throttleRuntime) FileConfig() *config.Config    { return r.cfg }
func (r throttleRuntime) StoreError() error             { return nil }
func (r throttleRuntime) Detector() *intrusion.Detector { return nil }

// TestLoginThrottleCountsAnIPv6ClientByItsNetwork: the per-address login
// limit ("one client address, all names": refused from the 16th attempt
// after 15 failures) counts an IPv6 client by its network
// (client_ipv6_prefix), so password spraying over many user names from
// fresh addresses of one /64 is refused like spraying from one address; a
// client of another /64 is not. The admin listener reads the TCP peer, and
// loopback has one IPv6 address, so this drives the real handler with the
// peers set on the request.
func TestLoginThrottleCountsAnIPv6ClientByItsNetwork(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{}
	cfg.ApplyDefaults()
	s := New(Options{Store: st, Runtime: throttleRuntime{cfg: cfg}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	login := func(peer, user string) int {
		t.Helper()
		body := fmt.Sprintf(`{"user": %q, "password": "guess", "code": "123456"}`, user)
		r := httptest.NewRequest("POST", "/admin/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for i := 1; i <= addrRefuseAfter; i++ {
		if code := login(fmt.Sprintf("[2001:db8:1:2::%x]:40000", i), fmt.Sprintf("user%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, code)
		}
	}
	if code := login("[2001:db8:1:2::ffff]:40000", "someone-else"); code != http.StatusTooManyRequests {
		t.Errorf("a fresh address of the same /64, a fresh name: %d, want 429", code)
	}
	if code := login("[2001:db8:1:3::1]:40000", "someone-else"); code != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401 (not throttled)", code)
	}
}
