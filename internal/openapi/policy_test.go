package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func specPolicy(t testing.TB, extra string) *policy {
	t.Helper()
	return mustPolicy(t, "kind: openapi\nspec: "+writeSpec(t, testSpec)+"\n"+extra)
}

func TestValidRequestsPass(t *testing.T) {
	p := specPolicy(t, "")
	c := newCtx("GET", "/orders/42?fields=all", "")
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("valid GET refused: %+v", prob)
	}
	body := `{"item":"apple","qty":3}`
	c = newCtx("POST", "/orders", body)
	c.Request.ContentLength = -1 // as if chunked
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("valid POST refused: %+v", prob)
	}
	// The upstream must still receive the body, with an exact length.
	if c.Request.ContentLength != int64(len(body)) {
		t.Fatalf("content length %d", c.Request.ContentLength)
	}
	got, _ := io.ReadAll(c.Request.Body)
	if string(got) != body {
		t.Fatalf("body after validation %q", got)
	}
	if c.Request.URL.Path != "/orders" {
		t.Fatalf("request path changed to %q", c.Request.URL.Path)
	}
}

func TestRefusals(t *testing.T) {
	p := specPolicy(t, "")
	secret := "SECRETVALUE123"
	cases := []struct {
		name, method, target, body, reason string
		status                             int
	}{
		{"unknown path", "GET", "/admin/" + secret, "", ReasonPath, 400},
		{"unknown method", "DELETE", "/orders/1", "", ReasonPath, 400},
		{"trailing slash", "GET", "/orders/1/?fields=all", "", ReasonPath, 400},
		{"trailing slash collection", "POST", "/orders/", `{"item":"a","qty":1}`, ReasonPath, 400},
		{"wrong param type", "GET", "/orders/" + secret + "?fields=all", "", ReasonParameter, 400},
		{"param below minimum", "GET", "/orders/0?fields=all", "", ReasonParameter, 400},
		{"missing query", "GET", "/orders/1", "", ReasonParameter, 400},
		{"bad enum", "GET", "/orders/1?fields=" + secret, "", ReasonParameter, 400},
		{"invalid body", "POST", "/orders", `{"item":"` + secret + `","qty":"x"}`, ReasonBody, 400},
		{"extra property", "POST", "/orders", `{"item":"a","qty":1,"` + secret + `":1}`, ReasonBody, 400},
		{"malformed json", "POST", "/orders", `{"item":` + secret, ReasonBody, 400},
		{"missing body", "POST", "/orders", "", ReasonBody, 400},
		{"trailing data after the body", "POST", "/orders", `{"item":"a","qty":1} {"qty":-5}`, ReasonBody, 400},
		{"duplicate name, last one valid", "POST", "/orders", `{"item":"a","qty":-5,"qty":1}`, ReasonBody + ": ambiguous JSON: duplicate member name", 400},
		{"lone surrogate", "POST", "/orders", `{"item":"\udc00","qty":1}`, ReasonBody + ": ambiguous JSON: lone surrogate escape", 400},
		{"invalid UTF-8", "POST", "/orders", "{\"item\":\"\xc0\xaf\",\"qty\":1}", ReasonBody + ": ambiguous JSON: invalid UTF-8", 400},
		{"integer beyond 2^53", "POST", "/orders", `{"item":"a","qty":9007199254740993}`, ReasonBody + ": ambiguous JSON: integer not exactly a double (beyond 2^53)", 400},
		{"body on GET", "GET", "/orders/1?fields=all", `{"a":1}`, ReasonBody, 400},
		{"too large", "POST", "/orders", `{"item":"` + strings.Repeat("a", 2<<20) + `","qty":1}`, ReasonTooLarge, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prob := p.Handle(newCtx(tc.method, tc.target, tc.body))
			if prob == nil {
				t.Fatal("not refused")
			}
			if prob.Status != tc.status || prob.Reason != tc.reason {
				t.Fatalf("status %d reason %q, want %d %q", prob.Status, prob.Reason, tc.status, tc.reason)
			}
			if strings.Contains(prob.Detail+prob.Reason, secret) {
				t.Fatal("problem echoes the input")
			}
		})
	}
}

func TestBodyWrongContentType(t *testing.T) {
	p := specPolicy(t, "")
	c := newCtx("POST", "/orders", `{"item":"a","qty":1}`)
	c.Request.Header.Set("Content-Type", "text/plain")
	if prob := p.Handle(c); prob == nil || prob.Status != 400 {
		t.Fatalf("text/plain body accepted: %+v", prob)
	}
}

func TestValidateBodyOff(t *testing.T) {
	p := specPolicy(t, "validate_body: false\n")
	c := newCtx("POST", "/orders", `not json`)
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("refused with validate_body false: %+v", prob)
	}
	got, _ := io.ReadAll(c.Request.Body)
	if string(got) != "not json" {
		t.Fatalf("body %q", got)
	}
	// Parameters are still checked.
	if prob := p.Handle(newCtx("GET", "/orders/x?fields=all", "")); prob == nil || prob.Reason != ReasonParameter {
		t.Fatalf("param not checked: %+v", prob)
	}
}

func TestStripPrefix(t *testing.T) {
	p := specPolicy(t, "strip_prefix: /v1/\n")
	if prob := p.Handle(newCtx("GET", "/v1/orders/7?fields=summary", "")); prob != nil {
		t.Fatalf("prefixed path refused: %+v", prob)
	}
	for _, target := range []string{"/orders/7?fields=summary", "/v1x/orders/7?fields=summary", "/v1"} {
		if prob := p.Handle(newCtx("GET", target, "")); prob == nil || prob.Reason != ReasonPath {
			t.Fatalf("%s: %+v", target, prob)
		}
	}
}

func TestProblemBodyGeneric(t *testing.T) {
	p := specPolicy(t, "")
	prob := p.Handle(newCtx("GET", "/orders/1?fields=XYZZY", ""))
	rec := &recorder{h: http.Header{}}
	prob.Write(rec, "rid")
	var body map[string]any
	if err := json.Unmarshal(rec.body, &body); err != nil {
		t.Fatal(err)
	}
	if body["detail"] != detailMismatch || strings.Contains(string(rec.body), "XYZZY") {
		t.Fatalf("problem body %s", rec.body)
	}
}

type recorder struct {
	h    http.Header
	body []byte
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }

func TestCompileErrors(t *testing.T) {
	good := writeSpec(t, testSpec)
	cases := map[string]string{
		"missing spec":   "kind: openapi\n",
		"no file":        "kind: openapi\nspec: /nonexistent/openapi.yaml\n",
		"unknown field":  "kind: openapi\nspec: " + good + "\nbogus: 1\n",
		"bad prefix":     "kind: openapi\nspec: " + good + "\nstrip_prefix: v1\n",
		"negative max":   "kind: openapi\nspec: " + good + "\nmax_body: -1\n",
		"not openapi":    "kind: openapi\nspec: " + writeSpec(t, "hello: world\n") + "\n",
		"invalid doc":    "kind: openapi\nspec: " + writeSpec(t, "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      parameters:\n        - {name: q, in: nowhere, schema: {type: string}}\n      responses: {'200': {description: ok}}\n") + "\n",
		"external ref":   "kind: openapi\nspec: " + writeSpec(t, "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    $ref: 'other.yaml#/paths/~1a'\n") + "\n",
		"not yaml":       "kind: openapi\nspec: " + writeSpec(t, "{{{") + "\n",
		"directory spec": "kind: openapi\nspec: " + t.TempDir() + "\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := compileWith(t, pipeline.NewSharedValues(), src)
			if err == nil {
				t.Fatal("compiled")
			}
			if name != "missing spec" && name != "unknown field" && name != "bad prefix" && name != "negative max" && !strings.Contains(err.Error(), "openapi spec") {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

func TestStateCache(t *testing.T) {
	state := pipeline.NewSharedValues()
	path := writeSpec(t, testSpec)
	src := "kind: openapi\nspec: " + path + "\n"
	a, err := compileWith(t, state, src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := compileWith(t, state, src)
	if err != nil {
		t.Fatal(err)
	}
	if a.(*policy).spec != b.(*policy).spec {
		t.Fatal("unchanged file loaded twice")
	}
	// A changed file is loaded afresh.
	changed := strings.Replace(testSpec, "maxLength: 20", "maxLength: 2", 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	c, err := compileWith(t, state, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.(*policy).spec == a.(*policy).spec {
		t.Fatal("changed file not reloaded")
	}
	if prob := c.(*policy).Handle(newCtx("POST", "/orders", `{"item":"apple","qty":1}`)); prob == nil {
		t.Fatal("new schema not applied")
	}
}

func TestPhase(t *testing.T) {
	var _ pipeline.RequestPolicy = (*policy)(nil)
	if specPolicy(t, "").Phase() != pipeline.PhaseValidate {
		t.Fatal("phase")
	}
}

// TestConcurrentRequests shares one compiled document between goroutines,
// as the gateway does (run with -race).
func TestConcurrentRequests(t *testing.T) {
	p := specPolicy(t, "")
	done := make(chan string, 8)
	for g := range 8 {
		go func() {
			for i := range 30 {
				okPath := newCtx("GET", "/orders/"+string(rune('1'+i%9))+"?fields=all", "")
				if prob := p.Handle(okPath); prob != nil {
					done <- "valid refused: " + prob.Reason
					return
				}
				body := `{"item":"x","qty":` + string(rune('1'+g)) + `}`
				if prob := p.Handle(newCtx("POST", "/orders", body)); prob != nil {
					done <- "valid body refused: " + prob.Reason
					return
				}
				if prob := p.Handle(newCtx("POST", "/orders", `{"qty":0}`)); prob == nil {
					done <- "invalid body accepted"
					return
				}
			}
			done <- ""
		}()
	}
	for range 8 {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
}
