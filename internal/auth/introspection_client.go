package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// introspector is the long-lived part of one introspection endpoint: the
// HTTP client (its keep-alive connections), the result cache and the
// in-flight calls. It lives in the gateway's State under a key naming the
// endpoint, the client id and the CA bundle, so reloads keep the cache.
// Close releases idle connections at shutdown.
type introspector struct {
	endpoint  string
	transport *http.Transport
	client    *http.Client
	cache     *introspectionCache
	flights   introspectionFlights
	lastLog   atomic.Int64 // unix nanos of the last "unavailable" log line
}

// introspectionCacheSize bounds the result cache of one endpoint.
const introspectionCacheSize = 10000

var errIntrospectionAbandoned = errors.New("request ended while waiting for introspection")

func newIntrospector(endpoint string, roots *x509.CertPool) *introspector {
	tr := &http.Transport{
		Proxy: nil, // the endpoint is called directly, never through an environment proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:        tlspolicy.Client(roots),
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &introspector{
		endpoint:  endpoint,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is not followed: the credentials and the token
			// go to the configured endpoint only. 3xx is "unavailable".
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache:   newIntrospectionCache(introspectionCacheSize),
		flights: introspectionFlights{m: map[[32]byte]*introspectionFlight{}},
	}
}

// Close closes idle connections; the lead calls it at shutdown.
func (s *introspector) Close() { s.transport.CloseIdleConnections() }

// introspect asks the endpoint about token. The error says why the
// endpoint could not answer (for the log); it never holds the token or
// the client secret.
func (s *introspector) introspect(ctx context.Context, token, clientID, clientSecret string) (introspected, error) {
	body := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(body))
	if err != nil {
		return introspected{}, fmt.Errorf("build introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: the client id and secret are form-encoded
	// before they are put in the Basic credentials.
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := s.client.Do(req)
	if err != nil {
		return introspected{}, fmt.Errorf("introspection call: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return introspected{}, fmt.Errorf("introspection endpoint answered %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionResponse+1))
	if err != nil {
		return introspected{}, fmt.Errorf("read introspection response: %w", err)
	}
	if len(raw) > maxIntrospectionResponse {
		return introspected{}, fmt.Errorf("introspection response larger than %d bytes", maxIntrospectionResponse)
	}
	return parseIntrospection(raw)
}

// logUnavailable logs why the endpoint could not answer, at most once per
// interval, so that an outage does not flood the log.
func (s *introspector) logUnavailable(now time.Time, err error) {
	last := s.lastLog.Load()
	if now.UnixNano()-last < int64(10*time.Second) || !s.lastLog.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	slog.Default().Error("introspection endpoint unavailable; requests are refused (fail closed)",
		"endpoint", s.endpoint, "error", err.Error())
}

// introspectorKey names the State entry shared by every route that uses
// the same endpoint, client id and CA bundle.
func introspectorKey(endpoint, clientID string, caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return "auth.introspection|" + endpoint + "|" + clientID + "|" + hex.EncodeToString(sum[:8])
}
