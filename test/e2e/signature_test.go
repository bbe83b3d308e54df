package e2e

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A client-side RFC 9421 signer written independently of the gateway's
// code: it builds the signature base by hand for the components it knows.
type sigClient struct {
	keyID  string
	secret []byte             // hmac-sha256
	priv   ed25519.PrivateKey // ed25519
}

// sigOpts says what to sign and how; zero values mean the usual.
type sigOpts struct {
	components []string  // default sigE2EComponents
	created    time.Time // default now
	nonce      string    // default a random one
	noNonce    bool      // sign without a nonce
	alg        string    // an alg parameter to add
	keyID      string    // default the client's
}

var sigE2EComponents = []string{"@method", "@authority", "@path", "@query", "content-digest", "date"}

// sigDigest is the RFC 9530 sha-256 Content-Digest of body.
func sigDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// newSigned builds a request to the gateway with Date, Content-Digest,
// Signature-Input and Signature.
func (c sigClient) newSigned(t *testing.T, g *Gateway, method, target string, body []byte, o sigOpts) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, g.URL(target), strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("Content-Digest", sigDigest(body))
	c.sign(t, req, o)
	return req
}

func (c sigClient) sign(t *testing.T, req *http.Request, o sigOpts) {
	t.Helper()
	if o.components == nil {
		o.components = sigE2EComponents
	}
	if o.created.IsZero() {
		o.created = time.Now()
	}
	if o.nonce == "" && !o.noNonce {
		var b [12]byte
		_, _ = rand.Read(b[:])
		o.nonce = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if o.keyID == "" {
		o.keyID = c.keyID
	}
	var lines []string
	quoted := make([]string, len(o.components))
	for i, name := range o.components {
		quoted[i] = strconv.Quote(name)
		var v string
		switch name {
		case "@method":
			v = req.Method
		case "@authority":
			v = strings.ToLower(req.URL.Host)
		case "@path":
			v = req.URL.EscapedPath()
		case "@query":
			v = "?" + req.URL.RawQuery
		default:
			v = req.Header.Get(name)
		}
		lines = append(lines, fmt.Sprintf("%q: %s", name, v))
	}
	params := fmt.Sprintf("(%s);created=%d;keyid=%q", strings.Join(quoted, " "), o.created.Unix(), o.keyID)
	if o.nonce != "" {
		params += fmt.Sprintf(";nonce=%q", o.nonce)
	}
	if o.alg != "" {
		params += fmt.Sprintf(";alg=%q", o.alg)
	}
	base := strings.Join(append(lines, `"@signature-params": `+params), "\n")
	var sig []byte
	if c.priv != nil {
		sig = ed25519.Sign(c.priv, []byte(base))
	} else {
		m := hmac.New(sha256.New, c.secret)
		m.Write([]byte(base))
		sig = m.Sum(nil)
	}
	req.Header.Set("Signature-Input", "sig1="+params)
	req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

// sigSetup starts a gateway whose route requires signatures by an HMAC
// key (secret from the environment) and an Ed25519 key (public key from a
// PEM file).
func sigSetup(t *testing.T) (*Gateway, *Upstream, sigClient, sigClient) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	t.Setenv("SIG_E2E_PARTNER_A", base64.StdEncoding.EncodeToString(secret))
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(t.TempDir(), "b.pub")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	up := NewUpstream(t, nil)
	g := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets:
      - url: %s
consumers:
  - name: partner-a
routes:
  - name: signed
    paths:
      - prefix: /
    service: svc
    policies:
      - kind: signature
        keys:
          - {id: partner-a, algorithm: hmac-sha256, secret: "${env:SIG_E2E_PARTNER_A}", secret_encoding: base64, consumer: partner-a}
          - {id: partner-b, algorithm: ed25519, public_key: "${file:%s}"}
        required_components: ["@method", "@path", "@query", "content-digest", "date"]
        max_skew: 5m
        require_digest: true
        nonce_required: true
        max_body: 1MiB
ops:
  address: "{{ops}}"
`, up.URL, pubFile)))
	return g, up, sigClient{keyID: "partner-a", secret: secret}, sigClient{keyID: "partner-b", priv: priv}
}

func sigDo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// sigRefused asserts a 401 problem with the generic detail, that the
// upstream saw nothing, and that the access log names reason.
func sigRefused(t *testing.T, g *Gateway, up *Upstream, req *http.Request, reason string) {
	t.Helper()
	up.Reset()
	resp, body := sigDo(t, req)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d %q body %q, want 401 problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p struct {
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != 401 || p.Detail != "The request signature is not valid." || p.RequestID == "" {
		t.Fatalf("problem body %q", body)
	}
	if strings.Contains(body, reason) {
		t.Fatalf("the body reveals the reason: %q", body)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d requests", n)
	}
	if got := sigLogReason(t, g, p.RequestID); got != "validate: "+reason {
		t.Fatalf("logged reason %q, want %q", got, "validate: "+reason)
	}
}

// sigLogReason finds the access log line of a request and returns its reason.
func sigLogReason(t *testing.T, g *Gateway, rid string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(g.Stdout.String(), "\n") {
			if !strings.Contains(line, rid) {
				continue
			}
			var e struct {
				RequestID string `json:"request_id"`
				Reason    string `json:"reason"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.RequestID == rid {
				return e.Reason
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access log line for %s", rid)
	return ""
}

func TestSignatureE2E(t *testing.T) {
	g, up, a, b := sigSetup(t)

	t.Run("signed GET reaches the upstream", func(t *testing.T) {
		up.Reset()
		resp, body := sigDo(t, a.newSigned(t, g, "GET", "/v1/orders?id=7&x=%2F", nil, sigOpts{}))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		seen := up.Last(t)
		if seen.Method != "GET" || seen.RequestURI != "/v1/orders?id=7&x=%2F" || len(seen.Body) != 0 {
			t.Fatalf("upstream saw %+v", seen)
		}
	})

	t.Run("signed POST with its body reaches the upstream", func(t *testing.T) {
		up.Reset()
		body := []byte(`{"order":{"item":"book","qty":2}}`)
		resp, rb := sigDo(t, b.newSigned(t, g, "POST", "/v1/orders", body, sigOpts{}))
		if resp.StatusCode != 200 || rb != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, rb)
		}
		seen := up.Last(t)
		if seen.Method != "POST" || string(seen.Body) != string(body) || seen.Header.Get("Content-Digest") != sigDigest(body) {
			t.Fatalf("upstream saw %s %q digest %q", seen.Method, seen.Body, seen.Header.Get("Content-Digest"))
		}
	})

	t.Run("signed chunked POST is buffered and forwarded whole", func(t *testing.T) {
		up.Reset()
		body := []byte(strings.Repeat(`{"line":1}`, 2000))
		req := b.newSigned(t, g, "POST", "/v1/bulk", body, sigOpts{})
		req.ContentLength = -1 // chunked: the policy must read it to check the digest
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		resp, _ := sigDo(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if seen := up.Last(t); string(seen.Body) != string(body) {
			t.Fatalf("upstream got %d bytes, want %d", len(seen.Body), len(body))
		}
	})

	t.Run("missing signature", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.URL("/v1/orders"), nil)
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		req.Header.Set("Content-Digest", sigDigest(nil))
		sigRefused(t, g, up, req, "missing signature")
	})

	t.Run("replayed signature", func(t *testing.T) {
		first := a.newSigned(t, g, "GET", "/v1/orders?id=8", nil, sigOpts{nonce: "replay-me"})
		up.Reset()
		if resp, _ := sigDo(t, first); resp.StatusCode != 200 || up.Count() != 1 {
			t.Fatalf("first: %d", resp.StatusCode)
		}
		again, _ := http.NewRequest("GET", g.URL("/v1/orders?id=8"), nil)
		again.Header = first.Header.Clone()
		sigRefused(t, g, up, again, "replay")
	})

	t.Run("tampered body", func(t *testing.T) {
		body := []byte(`{"amount":10}`)
		req := b.newSigned(t, g, "POST", "/v1/pay", body, sigOpts{})
		req.Body = io.NopCloser(strings.NewReader(`{"amount":99}`)) // same length
		sigRefused(t, g, up, req, "digest mismatch")
	})

	t.Run("body and digest changed, signature over the old digest", func(t *testing.T) {
		req := b.newSigned(t, g, "POST", "/v1/pay", []byte(`{"amount":10}`), sigOpts{})
		req.Body = io.NopCloser(strings.NewReader(`{"amount":99}`))
		req.Header.Set("Content-Digest", sigDigest([]byte(`{"amount":99}`)))
		sigRefused(t, g, up, req, "bad signature")
	})

	t.Run("outside the clock skew", func(t *testing.T) {
		sigRefused(t, g, up, a.newSigned(t, g, "GET", "/v1/orders", nil, sigOpts{created: time.Now().Add(-6 * time.Minute)}), "clock skew")
		sigRefused(t, g, up, a.newSigned(t, g, "GET", "/v1/orders", nil, sigOpts{created: time.Now().Add(6 * time.Minute)}), "clock skew")
	})

	t.Run("unknown key id", func(t *testing.T) {
		other := sigClient{keyID: "partner-z", secret: a.secret}
		sigRefused(t, g, up, other.newSigned(t, g, "GET", "/v1/orders", nil, sigOpts{}), "unknown key")
	})

	t.Run("required component not covered", func(t *testing.T) {
		req := a.newSigned(t, g, "GET", "/v1/orders?id=1", nil, sigOpts{components: []string{"@method", "@path", "content-digest", "date"}})
		sigRefused(t, g, up, req, "component not covered")
	})

	t.Run("hmac key id with the ed25519 algorithm", func(t *testing.T) {
		// Signed with b's Ed25519 key but naming a's HMAC key.
		req := b.newSigned(t, g, "GET", "/v1/orders", nil, sigOpts{keyID: "partner-a", alg: "ed25519"})
		sigRefused(t, g, up, req, "algorithm mismatch")
	})

	t.Run("signed path swapped for another", func(t *testing.T) {
		req := a.newSigned(t, g, "GET", "/v1/orders", nil, sigOpts{})
		moved, _ := http.NewRequest("GET", g.URL("/v1/admin"), nil)
		moved.Header = req.Header.Clone()
		sigRefused(t, g, up, moved, "bad signature")
	})
}
