package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// countingServer is an httptest server that counts the connections it
// accepted and closed.
type countingServer struct {
	*httptest.Server
	accepted atomic.Int64
	closed   chan struct{} // one value per closed connection
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	cs := &countingServer{closed: make(chan struct{}, 1024)}
	cs.Server = httptest.NewUnstartedServer(h)
	cs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			cs.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.closed <- struct{}{}
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// waitClosed waits for n connection closes seen by the server.
func (cs *countingServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-cs.closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("upstream did not see a connection close")
		}
	}
}

// rawServer accepts TCP connections and hands each to serve.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawServer(t *testing.T, serve func(net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rs.accepted.Add(1)
			rs.mu.Lock()
			rs.conns = append(rs.conns, c)
			rs.mu.Unlock()
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		rs.mu.Lock()
		for _, c := range rs.conns {
			c.Close()
		}
		rs.mu.Unlock()
		rs.wg.Wait()
	})
	return rs
}

func (rs *rawServer) URL() string { return "http://" + rs.ln.Addr().String() }

func testRegistry(t *testing.T) *Registry {
	t.Helper()
	r := newRegistry(time.Hour, 5*time.Second)
	t.Cleanup(r.Close)
	return r
}

func svcConfig(urls ...string) config.Service {
	cfg := config.Service{Name: "svc"}
	for _, u := range urls {
		cfg.Targets = append(cfg.Targets, config.Target{URL: u})
	}
	return cfg
}

func mustService(t *testing.T, r *Registry, cfg config.Service) *Service {
	t.Helper()
	s, err := r.Service(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newReq builds a request for target t the way the gateway does.
func newReq(ctx context.Context, t *Target, method, pathQuery string, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, t.Scheme()+"://"+t.Host()+pathQuery, body)
	if err != nil {
		panic(err)
	}
	return req
}

// get picks a target, sends a GET and returns status and body.
func get(t *testing.T, s *Service, path string) (int, string) {
	t.Helper()
	tg, err := s.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Release()
	resp, err := tg.RoundTrip(newReq(context.Background(), tg, http.MethodGet, path, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// readHead reads one request head (and a Content-Length body) from br.
func readHead(br interface {
	io.Reader
	ReadString(byte) (string, error)
}) (string, error) {
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return sb.String(), err
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String(), nil
		}
	}
}

// gate is a channel that handlers block on; open is idempotent and runs at
// cleanup too, so a failing test never leaves a handler (and the server's
// Close) hanging. Create it after the server so it opens before Close.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func newGate(t *testing.T, ch chan struct{}) *gate {
	g := &gate{ch: ch}
	t.Cleanup(g.open)
	return g
}
