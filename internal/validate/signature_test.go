package validate

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// RFC 9421 B.2.5 and B.2.6: the exact signature bases and signatures.
func TestSignatureRFCVectors(t *testing.T) {
	cases := []struct {
		name, label, input, sig, base string
	}{
		{
			name:  "B.2.5 hmac-sha256",
			label: "sig-b25",
			input: `("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
			sig:   "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=",
			base: "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n" +
				"\"@authority\": example.com\n" +
				"\"content-type\": application/json\n" +
				"\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"",
		},
		{
			name:  "B.2.6 ed25519",
			label: "sig-b26",
			input: `("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			sig:   "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==",
			base: "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n" +
				"\"@method\": POST\n" +
				"\"@path\": /foo\n" +
				"\"@authority\": example.com\n" +
				"\"content-type\": application/json\n" +
				"\"content-length\": 18\n" +
				"\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := sigRFCRequest(t)
			dict, err := parseSFDictionary(tc.label + "=" + tc.input)
			if err != nil {
				t.Fatal(err)
			}
			in, ok := parseSignatureInput(dict[0])
			if !ok {
				t.Fatal("input refused")
			}
			base, err := appendSignatureBase(nil, r, in)
			if err != nil {
				t.Fatal(err)
			}
			if string(base) != tc.base {
				t.Fatalf("base:\n%s\nwant:\n%s", base, tc.base)
			}

			// The whole policy accepts the RFC's own message at its time.
			p := rfcPolicy(t, time.Unix(rfcCreated+10, 0))
			r.Header.Set("Signature-Input", tc.label+"="+tc.input)
			r.Header.Set("Signature", tc.label+"=:"+tc.sig+":")
			if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil {
				t.Fatalf("refused: %s", prob.Reason)
			}
			// One flipped bit in the signature is refused.
			raw, _ := base64.StdEncoding.DecodeString(tc.sig)
			raw[3] ^= 1
			r.Header.Set("Signature", tc.label+"=:"+base64.StdEncoding.EncodeToString(raw)+":")
			if prob := p.Handle(&pipeline.Context{Request: r}); prob == nil || prob.Reason != ReasonBadSignature {
				t.Fatalf("tampered signature: %+v", prob)
			}
		})
	}
}

// The RFC's test private key signs what its public key verifies, with our
// base: a check that the signer used in the other tests is sound.
func TestSignatureRFCKeyPair(t *testing.T) {
	pub, err := parseEd25519PublicKey(rfcEd25519Public)
	if err != nil {
		t.Fatal(err)
	}
	if !rfcPrivate(t).Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("RFC key pair does not match")
	}
}

// RFC 9530 appendix B examples for {"hello": "world"}, and the RFC 9421
// test request's own Content-Digest.
func TestContentDigestRFCVectors(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	for _, tc := range []struct{ alg, want string }{
		{"sha-256", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"},
		{"sha-512", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
	} {
		got, err := ContentDigest(tc.alg, body)
		if err != nil || got != tc.want {
			t.Fatalf("%s: %q %v, want %q", tc.alg, got, err, tc.want)
		}
		if err := verifyContentDigest(tc.want, body); err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		if err := verifyContentDigest(tc.want, []byte(`{"hello": "World"}`)); err != errDigestMismatch {
			t.Fatalf("%s tampered: %v", tc.alg, err)
		}
	}
	for _, bad := range []string{
		"", "sha-256", "sha-256=abc", "sha-256=:AAAA:", "md5=:AAAA:", "sha-256=(:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:)",
		// one good and one bad supported digest: refused
		"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:",
	} {
		if err := verifyContentDigest(bad, body); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Unknown algorithms beside a good one are ignored.
	if err := verifyContentDigest("unixsum=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", body); err != nil {
		t.Fatal(err)
	}
}

func rfcPolicy(t *testing.T, now time.Time) *signaturePolicy {
	t.Helper()
	p, err := sigCompile(t, fmt.Sprintf(`
kind: signature
keys:
  - {id: test-shared-secret, algorithm: hmac-sha256, secret: %q, secret_encoding: base64}
  - id: test-key-ed25519
    algorithm: ed25519
    public_key: |
%s
required_components: ["@authority", "date"]
max_skew: 1m
`, rfcSharedSecretB64, indent(rfcEd25519Public, "      ")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.v.now = func() time.Time { return now }
	return p
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return pre + strings.Join(lines, "\n"+pre)
}

// sigTestPolicy: an hmac key bound to consumer "alice", an ed25519 key,
// the components of the example, digest and nonce required.
func sigTestPolicy(t *testing.T, now time.Time) (*signaturePolicy, sigSigner, sigSigner) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	secret := "0123456789abcdef0123456789abcdef-secret"
	p, err := sigCompile(t, fmt.Sprintf(`
kind: signature
keys:
  - {id: hk, algorithm: hmac-sha256, secret: %q, consumer: alice}
  - {id: ek, algorithm: ed25519, public_key: %q}
required_components: ["@method", "@path", "@query", "content-digest", "date"]
max_skew: 5m
require_digest: true
nonce_required: true
max_body: 64
`, secret, base64.StdEncoding.EncodeToString(pub)), []string{"alice", "bob"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.v.now = func() time.Time { return now }
	return p, sigSigner{keyID: "hk", secret: []byte(secret)}, sigSigner{keyID: "ek", priv: priv}
}

var sigComponents = []string{"@method", "@path", "@query", "content-digest", "date"}

func sigRequest(t *testing.T, method, target, body string, now time.Time) *http.Request {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	cd, _ := ContentDigest("sha-256", []byte(body))
	r.Header.Set("Content-Digest", cd)
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	return r
}

func TestSignaturePolicy(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	nonce := 0
	next := func() string { nonce++; return fmt.Sprintf("n-%d", nonce) }

	type tc struct {
		name   string
		build  func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity)
		status int
		reason string
		body   string // what the upstream would read, when allowed
	}
	cases := []tc{
		{"hmac GET", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/v1/x?a=1", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			return r, nil
		}, 0, "", ""},
		{"ed25519 POST with body", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "POST", "/v1/x", `{"a":1}`, now)
			ek.sign(t, r, "sig1", sigComponents, sigParams("ek", now, next()))
			return r, nil
		}, 0, "", `{"a":1}`},
		{"hmac with the bound consumer", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "s", sigComponents, sigParams("hk", now, next()))
			return r, &pipeline.Identity{Consumer: "alice"}
		}, 0, "", ""},
		{"second label valid", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "good", sigComponents, sigParams("hk", now, next()))
			in, sig := r.Header.Get("Signature-Input"), r.Header.Get("Signature")
			r.Header.Set("Signature-Input", `other=("@method");created=1;keyid="nope", `+in)
			r.Header.Set("Signature", "other=:AAAA:, "+sig)
			return r, nil
		}, 0, "", ""},
		{"missing signature", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			return sigRequest(t, "GET", "/", "", now), nil
		}, 401, ReasonMissingSignature, ""},
		{"malformed input", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			r.Header.Set("Signature-Input", `sig1=("@method" ;created=1`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, nil
		}, 401, ReasonMalformedSignature, ""},
		{"labels do not match", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "sig1=", "sig2=", 1))
			return r, nil
		}, 401, ReasonMalformedSignature, ""},
		{"unknown key", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			s := hk
			s.keyID = "other"
			s.sign(t, r, "sig1", sigComponents, sigParams("other", now, next()))
			return r, nil
		}, 401, ReasonUnknownKey, ""},
		{"hmac key with alg ed25519", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			ek.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next())+`;alg="ed25519"`)
			return r, nil
		}, 401, ReasonAlgorithmMismatch, ""},
		{"ed25519 key signed as hmac with its public key", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			s := sigSigner{secret: p.v.keys["ek"].Public}
			s.sign(t, r, "sig1", sigComponents, sigParams("ek", now, next())+`;alg="hmac-sha256"`)
			return r, nil
		}, 401, ReasonAlgorithmMismatch, ""},
		{"required component not covered", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", []string{"@method", "@path", "content-digest", "date"}, sigParams("hk", now, next()))
			return r, nil
		}, 401, ReasonNotCovered, ""},
		{"created too old", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now.Add(-6*time.Minute), next()))
			return r, nil
		}, 401, ReasonSkew, ""},
		{"created in the future", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now.Add(6*time.Minute), next()))
			return r, nil
		}, 401, ReasonSkew, ""},
		{"no created", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, `;keyid="hk";nonce="x1"`)
			return r, nil
		}, 401, ReasonSkew, ""},
		{"expired", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now.Add(-time.Minute), next())+fmt.Sprintf(";expires=%d", now.Add(-time.Second).Unix()))
			return r, nil
		}, 401, ReasonExpired, ""},
		{"no nonce", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, ""))
			return r, nil
		}, 401, ReasonNonceMissing, ""},
		{"path changed after signing", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/v1/x", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			r.RequestURI = "/v1/admin"
			return r, nil
		}, 401, ReasonBadSignature, ""},
		{"query changed after signing", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/v1/x?a=1", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			r.RequestURI = "/v1/x?a=2"
			return r, nil
		}, 401, ReasonBadSignature, ""},
		{"covered header absent", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			r.Header.Del("Date")
			return r, nil
		}, 401, ReasonBadSignature, ""},
		{"tampered body", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "POST", "/", `{"amount":1}`, now)
			ek.sign(t, r, "sig1", sigComponents, sigParams("ek", now, next()))
			r.Body = io.NopCloser(strings.NewReader(`{"amount":9}`))
			return r, nil
		}, 401, ReasonDigestMismatch, ""},
		{"body and digest changed, signature over the old digest", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "POST", "/", `{"amount":1}`, now)
			ek.sign(t, r, "sig1", sigComponents, sigParams("ek", now, next()))
			r.Body = io.NopCloser(strings.NewReader(`{"amount":9}`))
			cd, _ := ContentDigest("sha-256", []byte(`{"amount":9}`))
			r.Header.Set("Content-Digest", cd)
			return r, nil
		}, 401, ReasonBadSignature, ""},
		{"body without digest", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "POST", "/", `{"a":1}`, now)
			ek.sign(t, r, "sig1", []string{"@method", "@path", "@query", "date", "content-digest"}, sigParams("ek", now, next()))
			r.Header.Del("Content-Digest") // also breaks the signature, which is checked first
			return r, nil
		}, 401, ReasonBadSignature, ""},
		{"body too large", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			body := strings.Repeat("x", 65)
			r := sigRequest(t, "POST", "/", body, now)
			r.ContentLength = -1 // as if chunked: the limit applies while reading
			ek.sign(t, r, "sig1", sigComponents, sigParams("ek", now, next()))
			return r, nil
		}, 413, ReasonBodyTooLarge, ""},
		{"other consumer", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			return r, &pipeline.Identity{Consumer: "bob"}
		}, 401, ReasonConsumerMismatch, ""},
		{"uppercase component name", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			hk.sign(t, r, "sig1", sigComponents, sigParams("hk", now, next()))
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), `"date"`, `"Date"`, 1))
			return r, nil
		}, 401, ReasonMalformedSignature, ""},
		{"component listed twice", func(p *signaturePolicy, hk, ek sigSigner) (*http.Request, *pipeline.Identity) {
			r := sigRequest(t, "GET", "/", "", now)
			r.Header.Set("Signature-Input", `s=("@method" "@method" "@path" "@query" "content-digest" "date");created=1800000000;keyid="hk";nonce="z"`)
			r.Header.Set("Signature", "s=:AAAA:")
			return r, nil
		}, 401, ReasonMalformedSignature, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, hk, ek := sigTestPolicy(t, now)
			r, id := c.build(p, hk, ek)
			prob := p.Handle(&pipeline.Context{Request: r, Identity: id})
			if c.status == 0 {
				if prob != nil {
					t.Fatalf("refused: %d %s", prob.Status, prob.Reason)
				}
				got, _ := io.ReadAll(r.Body)
				if string(got) != c.body {
					t.Fatalf("upstream body %q, want %q", got, c.body)
				}
				return
			}
			if prob == nil {
				t.Fatal("accepted")
			}
			if prob.Status != c.status || prob.Reason != c.reason {
				t.Fatalf("got %d %q, want %d %q", prob.Status, prob.Reason, c.status, c.reason)
			}
			if c.status == 401 && prob.Detail != "The request signature is not valid." {
				t.Fatalf("detail %q", prob.Detail)
			}
		})
	}
}

func TestSignatureReplayAndReload(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	state := pipeline.NewSharedValues()
	src := `
kind: signature
keys: [{id: hk, algorithm: hmac-sha256, secret: "0123456789abcdef0123456789abcdef"}]
required_components: ["@method", "@path"]
max_skew: 1m
nonce_required: true
`
	p1, err := sigCompile(t, src, nil, state)
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	p1.v.now = func() time.Time { return clock }
	s := sigSigner{keyID: "hk", secret: []byte("0123456789abcdef0123456789abcdef")}
	r := httptest.NewRequest("GET", "/a", nil)
	s.sign(t, r, "s", []string{"@method", "@path"}, sigParams("hk", now, "once"))
	if prob := p1.Handle(&pipeline.Context{Request: r}); prob != nil {
		t.Fatal(prob.Reason)
	}
	if prob := p1.Handle(&pipeline.Context{Request: r}); prob == nil || prob.Reason != ReasonReplay {
		t.Fatalf("replay: %+v", prob)
	}
	// A reload keeps the store: the replay is still refused.
	p2, err := sigCompile(t, src, nil, state)
	if err != nil {
		t.Fatal(err)
	}
	p2.v.now = p1.v.now
	if prob := p2.Handle(&pipeline.Context{Request: r}); prob == nil || prob.Reason != ReasonReplay {
		t.Fatalf("replay after reload: %+v", prob)
	}
	// The same nonce under another label is the same nonce.
	r2 := httptest.NewRequest("GET", "/a", nil)
	s.sign(t, r2, "other", []string{"@method", "@path"}, sigParams("hk", now.Add(time.Second), "once"))
	if prob := p2.Handle(&pipeline.Context{Request: r2}); prob == nil || prob.Reason != ReasonReplay {
		t.Fatalf("same nonce, new signature: %+v", prob)
	}
	// Once the signature is outside the window it fails the skew check,
	// and its nonce may be forgotten.
	clock = now.Add(61 * time.Second)
	if prob := p2.Handle(&pipeline.Context{Request: r}); prob == nil || prob.Reason != ReasonSkew {
		t.Fatalf("after the window: %+v", prob)
	}
}

// TestSignatureReplayByDefault: without a nonce, the signature value
// itself is used once; replay_protection: false is the only way back.
func TestSignatureReplayByDefault(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const secret = "0123456789abcdef0123456789abcdef"
	s := sigSigner{keyID: "hk", secret: []byte(secret)}
	for _, tc := range []struct {
		desc, extra string
		second      func(r *http.Request) *http.Request // the second request (from the first)
		want        string                              // the second's refusal reason ("" accepted)
	}{
		{desc: "the same signed request twice, no nonce: the second is a replay",
			second: func(r *http.Request) *http.Request { return r }, want: ReasonReplay},
		{desc: "the same signature under another label is the same signature",
			second: func(r *http.Request) *http.Request {
				r2 := r.Clone(r.Context())
				r2.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), "s=", "t=", 1))
				r2.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "s=", "t=", 1))
				return r2
			}, want: ReasonReplay},
		{desc: "a new signature (another second) is accepted",
			second: func(*http.Request) *http.Request {
				r := httptest.NewRequest("GET", "/a", nil)
				s.sign(t, r, "s", []string{"@method", "@path"}, sigParams("hk", now.Add(time.Second), ""))
				return r
			}},
		{desc: "replay_protection: false accepts the same request again", extra: ", replay_protection: false",
			second: func(r *http.Request) *http.Request { return r }},
	} {
		p, err := sigCompile(t, `{kind: signature, keys: [{id: hk, algorithm: hmac-sha256, secret: "`+secret+`"}], required_components: ["@method", "@path"], max_skew: 1m`+tc.extra+`}`, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		p.v.now = func() time.Time { return now }
		r := httptest.NewRequest("GET", "/a", nil)
		s.sign(t, r, "s", []string{"@method", "@path"}, sigParams("hk", now, ""))
		if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil {
			t.Fatalf("%s: first refused: %s", tc.desc, prob.Reason)
		}
		got := ""
		if prob := p.Handle(&pipeline.Context{Request: tc.second(r)}); prob != nil {
			got = prob.Reason
		}
		if got != tc.want {
			t.Errorf("%s: second: %q, want %q", tc.desc, got, tc.want)
		}
	}
}

func TestNonceStoreBounded(t *testing.T) {
	const shardCap = 4
	s := newNonceStore(shardCap)
	now := time.Unix(1000, 0)
	refused := ""
	for i := 0; i < nonceShards*shardCap+1 && refused == ""; i++ {
		if s.add(fmt.Sprint(i), now.Add(time.Minute), now) == nonceFull {
			refused = fmt.Sprint(i)
		}
	}
	if refused == "" {
		t.Fatal("store never filled")
	}
	// Still full a moment later: live nonces are never forgotten.
	if got := s.add(refused, now.Add(time.Minute), now.Add(time.Second)); got != nonceFull {
		t.Fatalf("full shard accepted: %v", got)
	}
	// Expired entries make room in the same shard.
	later := now.Add(2 * time.Minute)
	if got := s.add(refused, later.Add(time.Minute), later); got != nonceFresh {
		t.Fatalf("after expiry: %v", got)
	}
	if got := s.add(refused, later.Add(time.Minute), later); got != nonceReplayed {
		t.Fatalf("replay: %v", got)
	}
}

func TestSignatureCompileErrors(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	cases := []struct{ name, yaml, want string }{
		{"no keys", `{kind: signature, keys: [], required_components: ["@method"]}`, "at least one key"},
		{"bad algorithm", `{kind: signature, keys: [{id: a, algorithm: rsa-pss-sha512, secret: x}], required_components: ["@method"]}`, "algorithm must be"},
		{"short secret", `{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: short-secret-value}], required_components: ["@method"]}`, "at least 32 bytes"},
		{"bad base64 secret", `{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: "!!not base64 secret value!!", secret_encoding: base64}], required_components: ["@method"]}`, "not valid base64"},
		{"hmac with public key", `{kind: signature, keys: [{id: a, algorithm: hmac-sha256, public_key: x}], required_components: ["@method"]}`, "public_key is for ed25519"},
		{"ed25519 with secret", `{kind: signature, keys: [{id: a, algorithm: ed25519, secret: x}], required_components: ["@method"]}`, "secret is for hmac"},
		{"bad public key", `{kind: signature, keys: [{id: a, algorithm: ed25519, public_key: AAAA}], required_components: ["@method"]}`, "expected PEM or the 32-byte key"},
		{"duplicate id", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}, {id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"]}`, secret, secret), "used twice"},
		{"unknown consumer", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q, consumer: carol}], required_components: ["@method"]}`, secret), `consumer "carol" is not defined`},
		{"no components", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}]}`, secret), "list what every signature must cover"},
		{"bad component", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@status"]}`, secret), "not a supported component"},
		{"uppercase component", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["Date"]}`, secret), "not a supported component"},
		{"digest not covered", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], require_digest: true}`, secret), "needs \"content-digest\""},
		{"skew too large", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], max_skew: 2h}`, secret), "max_skew"},
		// A written 0s used to become the default 5m: a replay window
		// three hundred times the one written.
		{"skew written 0s", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], max_skew: 0s}`, secret), "max_skew: must be more than 0"},
		{"unknown field", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], nonce: true}`, secret), "nonce"},
		{"nonce without replay protection", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], nonce_required: true, replay_protection: false}`, secret), "nonce_required needs replay protection"},
		{"redis without replay protection", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], replay_protection: false, redis: {address: "127.0.0.1:6379"}}`, secret), "replay_protection is off"},
		{"redis without address", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], redis: {db: 1}}`, secret), "redis.address: is required"},
		{"redis timeout too long", fmt.Sprintf(`{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: %q}], required_components: ["@method"], redis: {address: "127.0.0.1:6379", timeout: 10s}}`, secret), "keep it under 5s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sigCompile(t, c.yaml, []string{"alice"}, nil)
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			for _, s := range []string{"short-secret-value", "!!not base64", secret} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error leaks the secret: %q", err)
				}
			}
		})
	}
}

func TestSignatureSecretFromEnv(t *testing.T) {
	t.Setenv("SIG_TEST_SECRET", "0123456789abcdef0123456789abcdef")
	p, err := sigCompile(t, `{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: "${env:SIG_TEST_SECRET}"}], required_components: ["@method"]}`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.v.keys["a"].Secret) != "0123456789abcdef0123456789abcdef" {
		t.Fatal("secret reference not expanded")
	}
}
