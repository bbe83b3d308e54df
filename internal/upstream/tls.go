package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/config"
)

// TLS toward services (docs/zero-trust.md). The client side of the
// handshake (trust anchors, client certificate, expected identity,
// protocol floor, files reloaded on change) is internal/clienttls, whose
// package doc states the threats; this file wires it into the pools: one
// material per tls block, shared by the pools that name it, refreshed by
// the reaper loop.

// clientConfig is the tls.Config of one new connection to a target: the
// material's, offering HTTP/2 and HTTP/1.1.
func clientConfig(m *clienttls.Material, host string) *tls.Config {
	tc := m.Config(host)
	tc.NextProtos = []string{"h2", "http/1.1"}
	return tc
}

// newTransport builds the http.Transport of an https:// target: the pool
// dials and runs the TLS handshake itself (dialTLS) with the material's
// current files, HTTP/2 when the server offers it, the pool's timeouts
// and sizes, and no compression or environment proxy (a proxy passes
// bodies and routes through untouched).
func newTransport(p *pool) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialTLSContext:        p.dialTLS,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   p.maxIdle,
		MaxConnsPerHost:       p.maxConns,
		IdleConnTimeout:       p.idleTimeout,
		ResponseHeaderTimeout: p.respTimeout,
		DisableCompression:    true,
	}
}

// dialTLS dials the target, feeding passive health, and completes the
// TLS handshake within the connect timeout.
func (p *pool) dialTLS(ctx context.Context, network, _ string) (net.Conn, error) {
	nc, err := p.dialer.DialContext(ctx, network, p.addr)
	if err != nil {
		if ctx.Err() == nil {
			p.dialFailed()
		}
		return nil, err
	}
	hctx := ctx
	if p.dialer.Timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, p.dialer.Timeout)
		defer cancel()
	}
	tc := tls.Client(nc, clientConfig(p.tlsm, hostname(p.host)))
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = nc.Close()
		if ctx.Err() == nil {
			p.dialFailed()
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	p.dialSucceeded()
	return tc, nil
}

// hostname is the host part of an authority, without brackets.
func hostname(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return strings.Trim(authority, "[]")
}

// roundTripTLS is RoundTrip for https:// targets.
func (p *pool) roundTripTLS(req *http.Request) (*http.Response, error) {
	if _, ok := req.Header["User-Agent"]; !ok {
		// Present but empty keeps http.Transport from adding Go's default.
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header["User-Agent"] = nil
	}
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		return nil, p.wrapErr(req.Context(), "round trip", err)
	}
	return resp, nil
}

// refreshTLS reloads the materials whose files changed; a file that fails
// to load keeps the previous material and is logged once.
func (r *Registry) refreshTLS() {
	r.mu.Lock()
	ms := make([]*clienttls.Material, 0, len(r.materials))
	for _, m := range r.materials {
		ms = append(ms, m)
	}
	r.mu.Unlock()
	log := r.log.Load()
	for _, m := range ms {
		err := m.Refresh()
		if errors.Is(err, clienttls.ErrUnchanged) || !m.ReportOnce(err) || log == nil {
			continue
		}
		if err != nil {
			log.Error("upstream TLS files failed to reload; new connections keep the previous ones", "event", EventUpstreamTLSReloadFailed, "files", m.Files(), "error", err)
		} else {
			log.Info("upstream TLS files reloaded", "event", EventUpstreamTLSReloaded, "files", m.Files())
		}
	}
}

// SetLogger sets where the registry reports what happens outside any
// request (TLS files reloaded or failing to).
func (r *Registry) SetLogger(l *slog.Logger) {
	r.log.Store(l)
}

// material returns the shared TLS material for t, loading its files. An
// existing one is refreshed first, so a reload that follows a file change
// uses (or reports) the new files at once.
func (r *Registry) material(t *config.ClientTLS) (*clienttls.Material, error) {
	key := clienttls.Key(t)
	r.mu.Lock()
	m := r.materials[key]
	r.mu.Unlock()
	if m != nil {
		if err := m.Refresh(); err != nil && !errors.Is(err, clienttls.ErrUnchanged) {
			return nil, err
		}
		return m, nil
	}
	m, err := clienttls.New(t)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.materials[key]; old != nil {
		return old, nil
	}
	r.materials[key] = m
	return m, nil
}
