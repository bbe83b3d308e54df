package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	// self is only known after the listener exists; the handler reads it
	// through the closure at request time.
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newHandler("test-upstream", srv.URL).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEchoDescribesTheRequestAsReceived(t *testing.T) {
	srv := newTestServer(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/a//b%2Fc?x=1&y=2", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "abc123")
	req.Header.Add("X-Forwarded-For", "203.0.113.7")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var got echo
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode echo: %v", err)
	}
	want := echo{
		Server:   "test-upstream",
		Method:   "POST",
		Path:     "/a//b/c",
		RawPath:  "/a//b%2Fc?x=1&y=2",
		Query:    "x=1&y=2",
		Host:     strings.TrimPrefix(srv.URL, "http://"),
		Proto:    "HTTP/1.1",
		BodySize: 5,
	}
	if got.Server != want.Server || got.Method != want.Method || got.Path != want.Path ||
		got.RawPath != want.RawPath || got.Query != want.Query || got.Host != want.Host ||
		got.Proto != want.Proto || got.BodySize != want.BodySize {
		t.Fatalf("echo = %+v\nwant %+v", got, want)
	}
	if got.RemoteAddr == "" {
		t.Error("remote_addr is empty")
	}
	if v := got.Headers["X-Request-Id"]; len(v) != 1 || v[0] != "abc123" {
		t.Errorf("X-Request-Id echoed as %q", v)
	}
	if v := got.Headers["X-Forwarded-For"]; len(v) != 1 || v[0] != "203.0.113.7" {
		t.Errorf("X-Forwarded-For echoed as %q", v)
	}
}

func TestOKIsTwoBytesOfText(t *testing.T) {
	srv := newTestServer(t)
	resp, err := srv.Client().Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "ok" || resp.ContentLength != 2 ||
		resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("GET /ok: status %d, body %q, length %d, type %q",
			resp.StatusCode, body, resp.ContentLength, resp.Header.Get("Content-Type"))
	}
}

func TestPostToOKIsEchoed(t *testing.T) {
	srv := newTestServer(t)
	resp, err := srv.Client().Post(srv.URL+"/ok", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST /ok: Content-Type %q, want the JSON echo", ct)
	}
}

func TestRedirectNamesTheUpstreamItself(t *testing.T) {
	srv := newTestServer(t)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	if loc, want := resp.Header.Get("Location"), srv.URL+"/internal/landing"; loc != want {
		t.Fatalf("Location %q, want %q", loc, want)
	}
}

func TestEventsStreamsFiveFlushedEvents(t *testing.T) {
	srv := newTestServer(t)
	resp, err := srv.Client().Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var arrived []time.Time
	var datas []string
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			arrived = append(arrived, time.Now())
			datas = append(datas, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(datas) != eventCount {
		t.Fatalf("got %d events, want %d", len(datas), eventCount)
	}
	for i, d := range datas {
		var tk tick
		if err := json.Unmarshal([]byte(d), &tk); err != nil {
			t.Fatalf("event %d data %q: %v", i+1, d, err)
		}
		if tk.N != i+1 || tk.Server != "test-upstream" {
			t.Fatalf("event %d = %+v", i+1, tk)
		}
	}
	// Events are flushed one by one: had they been buffered, all would
	// arrive together at the end.
	spread := arrived[len(arrived)-1].Sub(arrived[0])
	if floor := eventInterval * (eventCount - 1) * 3 / 4; spread < floor {
		t.Fatalf("events arrived within %v, want them spread over at least %v", spread, floor)
	}
}
