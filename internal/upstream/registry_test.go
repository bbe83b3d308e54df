package upstream

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func TestPoolSurvivesRecompile(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	r := testRegistry(t)
	s1 := mustService(t, r, svcConfig(up.URL))
	get(t, s1, "/")
	s2 := mustService(t, r, svcConfig(up.URL))
	if s1.targets[0].p != s2.targets[0].p {
		t.Fatal("same config got a different pool")
	}
	r.Prune([]*Service{s2})
	get(t, s2, "/")
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections across the recompile, want 1", n)
	}
	// A setting that shapes connections gives a new pool.
	cfg := svcConfig(up.URL)
	cfg.Timeouts.Connect = config.Duration(time.Second)
	s3 := mustService(t, r, cfg)
	if s3.targets[0].p == s2.targets[0].p {
		t.Fatal("a changed connect timeout kept the old pool")
	}
	// TLS settings do not concern http targets.
	cfg = svcConfig(up.URL)
	cfg.TLS = &config.ClientTLS{ServerName: "x.example"}
	if s4 := mustService(t, r, cfg); s4.targets[0].p != s2.targets[0].p {
		t.Fatal("TLS settings split an http target's pool")
	}
}

func TestPruneClosesRemovedTargets(t *testing.T) {
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			io.WriteString(w, "part;")
			w.(http.Flusher).Flush()
			<-release
		}
		io.WriteString(w, "ok")
	})
	a := newCountingServer(t, handler)
	b := newCountingServer(t, handler)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the servers' Close
	r := testRegistry(t)
	old := mustService(t, r, svcConfig(a.URL))

	// A request in flight on a when the swap happens...
	tg, _ := old.Pick("")
	resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/slow", nil))
	if err != nil {
		t.Fatal(err)
	}
	get(t, old, "/") // ...and one idle connection to a

	next := mustService(t, r, svcConfig(b.URL))
	r.Prune([]*Service{next})
	a.waitClosed(t, 1) // the idle connection
	if n := tg.p.idleCount(); n != 0 {
		t.Fatalf("pruned pool keeps %d idle connections", n)
	}

	unblock()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	tg.Release()
	if err != nil || string(body) != "part;ok" {
		t.Fatalf("in-flight request on a pruned pool: %q %v", body, err)
	}
	a.waitClosed(t, 1) // returned to a pruned pool: closed, not kept
	if n := tg.p.idleCount(); n != 0 {
		t.Fatalf("pruned pool took back a connection")
	}
	// The old service still works (a request that began before the swap).
	if code, body := get(t, old, "/"); code != 200 || body != "ok" {
		t.Fatalf("old service after prune: %d %q", code, body)
	}
	if code, body := get(t, next, "/"); code != 200 || body != "ok" {
		t.Fatalf("new service: %d %q", code, body)
	}
	if _, ok := r.pools[next.targets[0].p.key]; !ok || len(r.pools) != 1 {
		t.Fatalf("registry pools after prune: %d", len(r.pools))
	}
}

func TestIdleReaper(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	r := newRegistry(10*time.Millisecond, time.Second)
	t.Cleanup(r.Close)
	cfg := svcConfig(up.URL)
	cfg.Timeouts.Idle = config.Duration(30 * time.Millisecond)
	s := mustService(t, r, cfg)
	get(t, s, "/")
	up.waitClosed(t, 1) // closed by the reaper with no further request
	if n := s.targets[0].p.idleCount(); n != 0 {
		t.Fatalf("%d idle after reaping", n)
	}
	get(t, s, "/")
	if n := up.accepted.Load(); n != 2 {
		t.Fatalf("accepted %d, want 2", n)
	}
}

func TestServiceConfigErrors(t *testing.T) {
	r := testRegistry(t)
	cases := map[string]struct {
		cfg  config.Service
		want string
	}{
		"no name":     {config.Service{Targets: []config.Target{{URL: "http://a"}}}, "without a name"},
		"no targets":  {config.Service{Name: "s"}, "no targets"},
		"scheme":      {svcConfig("ftp://a"), "scheme"},
		"path":        {svcConfig("http://a/base"), "without path"},
		"no host":     {svcConfig("http://"), "missing host"},
		"bad url":     {svcConfig("http://a b:%zz"), "invalid URL"},
		"credentials": {svcConfig("http://user:s3cret@a"), "credentials"},
		"algorithm":   {withLB(svcConfig("http://a"), config.LoadBalancing{Algorithm: "random"}), "algorithm"},
		"hash header": {withLB(svcConfig("http://a"), config.LoadBalancing{Algorithm: "consistent_hash", HashOn: "header"}), "hash_header"},
		"hash on":     {withLB(svcConfig("http://a"), config.LoadBalancing{Algorithm: "consistent_hash", HashOn: "cookie"}), "hash_on"},
		"weight":      {config.Service{Name: "s", Targets: []config.Target{{URL: "http://a", Weight: -1}}}, "weight"},
		"ca missing":  {withTLS(svcConfig("https://a"), "/nonexistent/ca.pem"), "ca_file"},
		"max conns":   {config.Service{Name: "s", Targets: []config.Target{{URL: "http://a"}}, MaxConnsPerTarget: -1}, "negative"},
	}
	for name, tc := range cases {
		_, err := r.Service(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error leaks a credential: %v", name, err)
		}
	}
	s := mustService(t, r, withLB(svcConfig("http://a"), config.LoadBalancing{Algorithm: "consistent_hash", HashOn: "header", HashHeader: "x-user-id"}))
	if on, h := s.HashOn(); !on || h != "X-User-Id" {
		t.Fatalf("HashOn = %v %q", on, h)
	}
	if s.Name() != "svc" || s.Targets()[0].Host() != "a" || s.Targets()[0].Scheme() != "http" {
		t.Fatalf("accessors: %q %q %q", s.Name(), s.Targets()[0].Host(), s.Targets()[0].Scheme())
	}
	if s.targets[0].p.addr != "a:80" {
		t.Fatalf("dial address %q, want a:80", s.targets[0].p.addr)
	}
}

func withLB(c config.Service, lb config.LoadBalancing) config.Service { c.LoadBalancing = lb; return c }

func withTLS(c config.Service, ca string) config.Service {
	c.TLS = &config.ClientTLS{CAFile: ca}
	return c
}

// TestHashKeySource: what feeds a service's consistent hash, as the gateway
// reads it (the config is read once, here).
func TestHashKeySource(t *testing.T) {
	r := NewRegistry()
	defer r.Close()
	for _, tc := range []struct {
		desc       string
		lb         config.LoadBalancing
		wantClient bool
		wantHeader string
	}{
		{"round robin", config.LoadBalancing{}, false, ""},
		{"least connections", config.LoadBalancing{Algorithm: "least_connections"}, false, ""},
		{"hash on the client by default", config.LoadBalancing{Algorithm: "consistent_hash"}, true, ""},
		{"hash on the client", config.LoadBalancing{Algorithm: "consistent_hash", HashOn: "client_address"}, true, ""},
		{"hash on a header, canonical", config.LoadBalancing{Algorithm: "consistent_hash", HashOn: "header", HashHeader: "x-user-id"}, false, "X-User-Id"},
		{"header settings without consistent_hash", config.LoadBalancing{HashOn: "header", HashHeader: "x-user-id"}, false, ""},
	} {
		s := mustService(t, r, withLB(svcConfig("http://a"), tc.lb))
		if client, header := s.HashKeySource(); client != tc.wantClient || header != tc.wantHeader {
			t.Errorf("%s: HashKeySource = %v %q, want %v %q", tc.desc, client, header, tc.wantClient, tc.wantHeader)
		}
	}
}
