package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
)

// newTransport builds the http.Transport of an https:// target: TLS 1.2+
// verified against caPEM (the system roots when nil), HTTP/2 when the
// server offers it, the pool's timeouts and sizes, and no compression or
// environment proxy (a proxy passes bodies and routes through untouched).
func newTransport(p *pool, caPEM []byte, serverName string) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caPEM != nil {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no PEM certificate found in the CA file")
		}
		tc.RootCAs = roots
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialTLSBase,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   p.dialer.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   p.maxIdle,
		MaxConnsPerHost:       p.maxConns,
		IdleConnTimeout:       p.idleTimeout,
		ResponseHeaderTimeout: p.respTimeout,
		DisableCompression:    true,
	}, nil
}

// dialTLSBase dials the TCP connection under TLS and feeds passive health.
func (p *pool) dialTLSBase(ctx context.Context, network, _ string) (net.Conn, error) {
	nc, err := p.dialer.DialContext(ctx, network, p.addr)
	if err != nil {
		if ctx.Err() == nil {
			p.dialFailed()
		}
		return nil, err
	}
	p.dialSucceeded()
	return nc, nil
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
