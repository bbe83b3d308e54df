package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProxyForwardsPathAndBody(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()

	h, err := newProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	defer proxy.Close()

	// Several requests, so pooled buffers are reused at least once.
	for i := 0; i < 3; i++ {
		resp, err := proxy.Client().Get(proxy.URL + "/a/b?c=d")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if p := resp.Header.Get("X-Seen-Path"); p != "/a/b?c=d" {
			t.Fatalf("upstream saw %q, want /a/b?c=d", p)
		}
		if xff := resp.Header.Get("X-Seen-XFF"); xff != "127.0.0.1" {
			t.Fatalf("upstream saw X-Forwarded-For %q, want 127.0.0.1", xff)
		}
	}
}

func TestNewProxyRejectsBadUpstream(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9000", "ftp://x", "http://", "%zz"} {
		if _, err := newProxy(u); err == nil {
			t.Errorf("newProxy(%q): no error", u)
		}
	}
}

func TestBufferPoolReturnsFullSizeBuffers(t *testing.T) {
	bp := newBufferPool(1024)
	b := bp.Get()
	if len(b) != 1024 {
		t.Fatalf("len %d, want 1024", len(b))
	}
	bp.Put(b)
	if b2 := bp.Get(); len(b2) != 1024 {
		t.Fatalf("after Put: len %d, want 1024", len(b2))
	}
}
