package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The gateway signature is for services that cannot verify a JWT: an
// HMAC-SHA256, keyed by a secret shared by the gateway and one service,
// over a version tag, the Unix time in seconds, the method, the path with
// its query as sent to the service, and the request id, joined by "\n":
//
//	X-Portcullis-Signature: t=1764680000,v1=<base64url(HMAC(secret, "v1\n" t "\n" method "\n" path "\n" request-id))>
//
// The service recomputes it from what it received and refuses a request
// whose timestamp is further than a few seconds from its clock. It proves
// the request passed through the gateway (the secret) and was not replayed
// later (the timestamp) nor changed in method or path; it carries no
// identity and does not cover the body or other headers.

// GatewaySignature computes the signature header value.
func GatewaySignature(secret []byte, t time.Time, method, pathQuery, requestID string) string {
	return NewGatewaySigner(secret).Sign(t, method, pathQuery, requestID)
}

// GatewaySigner computes gateway signatures with one secret, reusing its
// HMAC state and buffers (the gateway signs every request with it). It is
// safe for concurrent use.
type GatewaySigner struct {
	pool sync.Pool // *signState
}

type signState struct {
	mac      hash.Hash
	buf, msg []byte
	out      [sha256.Size]byte
}

// NewGatewaySigner returns a signer keyed by secret.
func NewGatewaySigner(secret []byte) *GatewaySigner {
	key := append([]byte(nil), secret...)
	s := &GatewaySigner{}
	s.pool.New = func() any { return &signState{mac: hmac.New(sha256.New, key)} }
	return s
}

// Sign returns the header value for a request.
func (s *GatewaySigner) Sign(t time.Time, method, pathQuery, requestID string) string {
	st := s.pool.Get().(*signState)
	defer s.pool.Put(st)
	b := append(st.buf[:0], "t="...)
	b = strconv.AppendInt(b, t.Unix(), 10)
	mac := st.sum(b[2:], method, pathQuery, requestID)
	b = append(b, ",v1="...)
	b = base64.RawURLEncoding.AppendEncode(b, mac)
	st.buf = b
	return string(b)
}

// sum is the HMAC of the signed string; the result is valid until the
// state is used again.
func (st *signState) sum(ts []byte, method, pathQuery, requestID string) []byte {
	m := append(st.msg[:0], "v1\n"...)
	m = append(m, ts...)
	m = append(m, '\n')
	m = append(m, method...)
	m = append(m, '\n')
	m = append(m, pathQuery...)
	m = append(m, '\n')
	m = append(m, requestID...)
	st.msg = m
	st.mac.Reset()
	st.mac.Write(m)
	return st.mac.Sum(st.out[:0])
}

func signatureMAC(secret []byte, ts, method, pathQuery, requestID string) []byte {
	st := &signState{mac: hmac.New(sha256.New, secret)}
	return st.sum([]byte(ts), method, pathQuery, requestID)
}

// Errors of CheckGatewaySignature.
var (
	ErrNoSignature       = errors.New("no gateway signature")
	ErrMalformedSig      = errors.New("malformed gateway signature")
	ErrSignatureTooOld   = errors.New("gateway signature outside the allowed clock skew")
	ErrSignatureMismatch = errors.New("gateway signature does not match")
)

// CheckGatewaySignature verifies the gateway signature of r in header
// (DefaultSignatureHeader when empty): the HMAC in constant time, and the
// timestamp within maxSkew of now. The path is the request target as
// received (r.RequestURI) and the request id r's X-Request-Id.
func CheckGatewaySignature(r *http.Request, header string, secret []byte, maxSkew time.Duration, now time.Time) error {
	if header == "" {
		header = DefaultSignatureHeader
	}
	vals := r.Header.Values(header)
	if len(vals) == 0 {
		return ErrNoSignature
	}
	if len(vals) > 1 {
		return ErrMalformedSig
	}
	ts, mac, ok := parseSignature(vals[0])
	if !ok {
		return ErrMalformedSig
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformedSig
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return ErrSignatureTooOld
	}
	want := signatureMAC(secret, ts, r.Method, requestTarget(r), r.Header.Get("X-Request-Id"))
	if !hmac.Equal(mac, want) {
		return ErrSignatureMismatch
	}
	return nil
}

func parseSignature(v string) (ts string, mac []byte, ok bool) {
	for _, part := range strings.Split(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, false
		}
		switch k {
		case "t":
			ts = val
		case "v1":
			b, err := base64.RawURLEncoding.DecodeString(val)
			if err != nil {
				return "", nil, false
			}
			mac = b
		}
	}
	return ts, mac, ts != "" && len(mac) == sha256.Size
}

// requestTarget is the path and query as the gateway sent them: the raw
// request target on a server, the URL's form otherwise.
func requestTarget(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}
