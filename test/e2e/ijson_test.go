package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The gateway decides from JSON only what every parser reads the same way
// (internal/ijson, RFC 7493): duplicate member names, invalid UTF-8, lone
// surrogate escapes and integers a double cannot hold are refused wherever
// a decision is made from JSON.

// ijsonSpec is an OpenAPI document with POST /orders taking a JSON
// body whose qty is an integer of at least 1.
const ijsonSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
paths:
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [qty]
              properties:
                qty: {type: integer, minimum: 1, maximum: 9007199254740992}
                note: {type: string}
      responses:
        "201": {description: created}
`

// ijsonConfig: /schema/ checks bodies with the validate policy's JSON
// Schema (qty an integer of at least 1), /oa/ with the openapi policy;
// refusals go to the security event file.
func ijsonConfig(t *testing.T, up *Upstream, eventsFile string) GatewayConfig {
	spec := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(spec, []byte(ijsonSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
routes:
  - name: schema
    paths: [{prefix: /schema/}]
    service: svc
    policies:
      - kind: validate
        content_types: [application/json]
        json_schema:
          type: object
          required: [qty]
          properties:
            qty: {type: integer, minimum: 1, maximum: 9007199254740992}
            note: {type: string}
  - name: oa
    paths: [{prefix: /oa/}]
    service: svc
    policies:
      - {kind: openapi, spec: "%s", strip_prefix: /oa}
ops: {address: "{{ops}}"}
observability:
  security_events: {output: "%s"}
`, up.URL, spec, eventsFile))
}

// postJSON posts body as application/json and returns the status, the
// problem (nil when the body is not one) and the request id.
func postJSON(t *testing.T, gw *Gateway, path, body string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Post(gw.URL(path), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var prob map[string]any
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(b, &prob); err != nil {
			t.Fatalf("problem body %q: %v", b, err)
		}
	}
	return resp.StatusCode, prob, resp.Header.Get("X-Request-Id")
}

// waitEvent waits for the security event of request rid in the event file.
func waitEvent(t *testing.T, path, rid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range readEventLines(t, path) {
			if ev["request_id"] == rid {
				return ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no security event for request %q in %s", rid, path)
	return nil
}

// expectJSONRefused posts body to path and checks: 400 problem+json whose
// detail names the I-JSON rule, the upstream never saw it, the access log
// reason, and a security event of category "validation".
func expectJSONRefused(t *testing.T, gw *Gateway, up *Upstream, eventsFile, path, body, rule, reasonPrefix string) {
	t.Helper()
	before := up.Count()
	status, prob, rid := postJSON(t, gw, path, body)
	if status != http.StatusBadRequest || prob == nil || prob["status"] != 400.0 {
		t.Fatalf("status %d problem %v, want a 400 problem", status, prob)
	}
	if d, _ := prob["detail"].(string); !strings.HasSuffix(d, "It is not I-JSON (RFC 7493): "+rule+".") {
		t.Errorf("detail %q does not name the rule %q", d, rule)
	}
	if got := jwtAccessReason(t, gw, rid); got != reasonPrefix+rule {
		t.Errorf("access log reason %q, want %q", got, reasonPrefix+rule)
	}
	ev := waitEvent(t, eventsFile, rid)
	if ev["category"] != "validation" || ev["status"] != 400.0 {
		t.Errorf("security event %v, want category validation, status 400", ev)
	}
	if n := up.Count(); n != before {
		t.Fatalf("the upstream received the refused body (%d requests)", n-before)
	}
}

// TestDuplicateJSONMembersRefused: {"qty":-5,"qty":1} passed a schema with
// minimum 1 (the validator kept the last member) and went upstream, where
// a first-member parser reads -5. Now a body with a duplicate member name,
// at any depth and however it is escaped, is refused with 400 by the
// validate policy's JSON Schema and by the openapi policy, and the
// upstream never sees it; the same body without the duplicate passes with
// its bytes unchanged.
func TestDuplicateJSONMembersRefused(t *testing.T) {
	up := NewUpstream(t, nil)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	gw := StartGateway(t, ijsonConfig(t, up, events))
	for _, route := range []struct{ path, reason string }{
		{"/schema/orders", "validate: validate: ambiguous JSON: "}, // phase: policy reason
		{"/oa/orders", "validate: openapi: body: ambiguous JSON: "},
	} {
		t.Run(route.path, func(t *testing.T) {
			for _, tc := range []struct{ desc, body string }{
				{"last value valid", `{"qty":-5,"qty":1}`},
				{"first value valid", `{"qty":1,"qty":-5}`},
				{"escaped duplicate", `{"qty":-5,"\u0071ty":1}`},
				{"duplicate in a nested object", `{"qty":1,"note":"x","meta":{"role":"user","role":"admin"}}`},
				{"duplicate inside an array", `{"qty":1,"lines":[{"sku":"a"},{"sku":"b","sku":"c"}]}`},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					expectJSONRefused(t, gw, up, events, route.path, tc.body, "duplicate member name", route.reason)
				})
			}
			t.Run("no duplicate passes unchanged", func(t *testing.T) {
				body := `{"qty":1, "note":"same name in two objects", "meta":{"qty":2}}`
				before := up.Count()
				if status, prob, _ := postJSON(t, gw, route.path, body); status != 200 {
					t.Fatalf("status %d %v", status, prob)
				}
				if up.Count() != before+1 || string(up.Last(t).Body) != body {
					t.Fatalf("upstream got %q, want the body unchanged", up.Last(t).Body)
				}
			})
			t.Run("the schema still refuses the single bad value", func(t *testing.T) {
				before := up.Count()
				if status, _, _ := postJSON(t, gw, route.path, `{"qty":-5}`); status != 400 || up.Count() != before {
					t.Fatalf("status %d, upstream %d", status, up.Count()-before)
				}
			})
		})
	}
}

// TestInvalidIJSONRefused: bodies that parse but are not I-JSON (RFC 7493)
// are refused with 400 naming the rule, on both validating policies: a
// lone surrogate escape (parsers replace it with U+FFFD or keep it), raw
// invalid UTF-8, an integer beyond 2^53 that a double rounds (the schema's
// maximum of 2^53 would judge 2^53 while an int64 parser reads 2^53+1),
// and a number beyond the range of a double. 2^53 itself passes.
func TestInvalidIJSONRefused(t *testing.T) {
	up := NewUpstream(t, nil)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	gw := StartGateway(t, ijsonConfig(t, up, events))
	for _, route := range []struct{ path, reason string }{
		{"/schema/orders", "validate: validate: ambiguous JSON: "}, // phase: policy reason
		{"/oa/orders", "validate: openapi: body: ambiguous JSON: "},
	} {
		t.Run(route.path, func(t *testing.T) {
			for _, tc := range []struct{ desc, body, rule string }{
				{"lone high surrogate", `{"qty":1,"note":"\ud800"}`, "lone surrogate escape"},
				{"lone low surrogate", `{"qty":1,"note":"a\udc00b"}`, "lone surrogate escape"},
				{"invalid UTF-8 byte", "{\"qty\":1,\"note\":\"\xff\"}", "invalid UTF-8"},
				{"overlong UTF-8", "{\"qty\":1,\"note\":\"\xc0\xaf\"}", "invalid UTF-8"},
				{"integer beyond 2^53", `{"qty":9007199254740993}`, "integer not exactly a double (beyond 2^53)"},
				{"number beyond a double", `{"qty":1,"x":1e400}`, "number beyond the range of a double"},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					expectJSONRefused(t, gw, up, events, route.path, tc.body, tc.rule, route.reason)
				})
			}
			t.Run("2^53 and a paired surrogate pass", func(t *testing.T) {
				before := up.Count()
				body := `{"qty":9007199254740992,"note":"\ud83d\ude00 caf` + "\u00e9" + `"}`
				if status, prob, _ := postJSON(t, gw, route.path, body); status != 200 || up.Count() != before+1 {
					t.Fatalf("status %d %v", status, prob)
				}
			})
		})
	}
}

// hs256 signs a compact JWS over the exact header and payload texts.
func hs256(header, payload, secret string) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestJWTWithDuplicateClaimsRefused: a correctly signed JWT whose payload
// has "sub" twice (or a duplicate header parameter, or a lone surrogate)
// is refused with 401 and the reason "ambiguous JSON"; the upstream never
// sees it. The same token with one "sub" is accepted, so the refusal is
// the duplicate's, not the signature's.
func TestJWTWithDuplicateClaimsRefused(t *testing.T) {
	t.Setenv(jwtSecretEnv, jwtSecret)
	f := newJWTFixture(t)
	f.publish(jwkEC("k1", &f.jwksEC.PublicKey))
	up := NewUpstream(t, nil)
	gw := StartGateway(t, f.config(up, f.serveJWKS(t), f.serveJWKS(t)))
	now := time.Now().Unix()
	claims := fmt.Sprintf(`"iss":%q,"aud":"orders","exp":%d,"iat":%d`, jwtIssuer, now+600, now)
	const hdr = `{"alg":"HS256","typ":"JWT","kid":"alice-hs"}`

	seen := jwtAccepted(t, gw, up, "/api/orders", "Bearer "+hs256(hdr, `{"sub":"alice",`+claims+`}`, jwtSecret), nil)
	if got := seen.Header.Get("X-User-Id"); got != "alice" {
		t.Fatalf("X-User-Id %q for the unambiguous token", got)
	}
	for _, tc := range []struct{ desc, header, payload string }{
		{"sub twice", hdr, `{"sub":"alice","sub":"admin",` + claims + `}`},
		{"sub twice, the second escaped", hdr, `{"sub":"admin",` + claims + `,"\u0073ub":"alice"}`},
		{"kid twice in the header", `{"alg":"HS256","kid":"bob-rs","kid":"alice-hs"}`, `{"sub":"alice",` + claims + `}`},
		{"lone surrogate in sub", hdr, `{"sub":"\udc00",` + claims + `}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			jwtRefused(t, gw, up, "/api/orders", "Bearer "+hs256(tc.header, tc.payload, jwtSecret), jwtInvalid, "authn: jwt: ambiguous JSON")
		})
	}
}

// TestIntrospectionAmbiguousResponseRefused: an introspection response
// with "active" twice ({"active":false,...,"active":true}) is not read as
// its last member: the answer is refused as malformed, the request fails
// closed with 401, the cause is logged, and the upstream never sees it. A
// member that differs only in case ("ACTIVE") is another member.
func TestIntrospectionAmbiguousResponseRefused(t *testing.T) {
	t.Setenv("PORTCULLIS_E2E_INTRO_SECRET", introClientSecret)
	idp := newIntroServer(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, introConfig(up, idp.srv.URL, "http://"+freeAddr(t)+"/introspect"))
	hour := time.Now().Add(time.Hour).Unix()
	idp.set("tok-dup", fmt.Sprintf(`{"active":false,"sub":"alice","scope":"orders:read","aud":"orders-api","exp":%d,"active":true}`, hour))
	idp.set("tok-case", fmt.Sprintf(`{"active":false,"sub":"alice","scope":"orders:read","aud":"orders-api","exp":%d,"ACTIVE":true}`, hour))
	idp.set("tok-ok", fmt.Sprintf(`{"active":true,"sub":"alice","scope":"orders:read","aud":"orders-api","exp":%d}`, hour))

	resp, body := introGet(t, gw, "/orders/1", "tok-dup")
	introExpectRefused(t, up, resp, body, 401, "Bearer")
	if !gw.WaitLog("ambiguous JSON: duplicate member name", 5*time.Second) {
		t.Errorf("the cause was not logged:\n%s", gw.Stderr.String())
	}
	resp, body = introGet(t, gw, "/orders/1", "tok-case")
	introExpectRefused(t, up, resp, body, 401, `Bearer error="invalid_token"`)
	if resp, _ := introGet(t, gw, "/orders/1", "tok-ok"); resp.StatusCode != 200 || up.Count() != 1 {
		t.Fatalf("the unambiguous answer: status %d, upstream %d", resp.StatusCode, up.Count())
	}
}

// TestJWKSAmbiguousDocumentRefused: a JWKS document whose key has "kid"
// twice is a fetch error (logged), so a token signed by that key is
// refused with 401 ("jwks unavailable") and the upstream never sees it.
func TestJWKSAmbiguousDocumentRefused(t *testing.T) {
	t.Setenv(jwtSecretEnv, jwtSecret)
	f := newJWTFixture(t)
	k := jwkEC("k1", &f.jwksEC.PublicKey)
	doc := fmt.Sprintf(`{"keys":[{"kty":"EC","kid":"other","kid":"k1","alg":"ES256","use":"sig","crv":"P-256","x":%q,"y":%q}]}`, k["x"], k["y"])
	srv := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = io.WriteString(w, doc)
	})
	up := NewUpstream(t, nil)
	gw := StartGateway(t, f.config(up, srv.URL+"/jwks.json", srv.URL+"/jwks.json"))
	tok := jwtSign(t, "ES256", "k1", f.jwksEC, map[string]any{"sub": "carol"})
	jwtRefused(t, gw, up, "/jwks/x", "Bearer "+tok, jwtInvalid, "authn: jwt: jwks unavailable")
	if !gw.WaitLog("ambiguous JSON: duplicate member name", 5*time.Second) {
		t.Errorf("the fetch error was not logged:\n%s", gw.Stderr.String())
	}
}
