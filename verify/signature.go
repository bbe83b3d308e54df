package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
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
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + base64.RawURLEncoding.EncodeToString(signatureMAC(secret, ts, method, pathQuery, requestID))
}

func signatureMAC(secret []byte, ts, method, pathQuery, requestID string) []byte {
	m := hmac.New(sha256.New, secret)
	for i, part := range [...]string{"v1", ts, method, pathQuery, requestID} {
		if i > 0 {
			m.Write([]byte{'\n'})
		}
		m.Write([]byte(part))
	}
	return m.Sum(nil)
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
