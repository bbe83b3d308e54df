package openapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// fuzzContentTypes are the Content-Type values the fuzzer picks from.
var fuzzContentTypes = []string{"application/json", "", "text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded"}

// FuzzHandle is a differential test: every request goes through the
// policy and through kin-openapi called directly on the same document,
// with what docs/protection.md says the policy decides on its own:
// servers are ignored, security requirements count as met, a body on an
// operation that declares none is refused, and a trailing slash must
// match the document's path. The two must agree on every request, and a
// refusal carries only a fixed reason of the right kind and the generic
// detail. (kin-openapi's body decoders are one registry per process, so
// the reference decodes JSON bodies through the policy's strict decoder
// too: an ambiguous body is a body refusal to both, and the policy's own
// refusal of it names the I-JSON rule.) The seed corpus is in
// testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	p := specPolicy(f, "")
	ref := newKinReference(f, testSpec)
	f.Fuzz(func(t *testing.T, method, path, query, body string, ctype uint8) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			return
		}
		ct := fuzzContentTypes[int(ctype)%len(fuzzContentTypes)]
		newReq := func() *http.Request {
			r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}, Body: http.NoBody}
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if body != "" {
				r.Body = nopCloser{strings.NewReader(body)}
				r.ContentLength = int64(len(body))
			}
			return r.WithContext(context.Background())
		}
		prob := p.Handle(&pipeline.Context{Request: newReq(), Path: path})
		want := ref.verdict(newReq())
		switch {
		case prob == nil && want != "":
			t.Fatalf("%s %s?%s %q (%s): the policy accepted what kin-openapi refuses (%s)", method, path, query, body, ct, want)
		case prob == nil:
			return
		case want == "":
			t.Fatalf("%s %s?%s %q (%s): the policy refused (%s) what kin-openapi accepts", method, path, query, body, ct, prob.Reason)
		case prob.Status == 400 && strings.HasPrefix(prob.Reason, ReasonBody+": ambiguous JSON: "):
			if rule := strings.TrimPrefix(prob.Reason, ReasonBody+": ambiguous JSON: "); prob.Detail != detailMismatch+" It is not I-JSON (RFC 7493): "+rule+"." {
				t.Fatalf("refusal %+v: want the generic detail and the I-JSON rule", prob)
			}
		case prob.Status != 400 || prob.Detail != detailMismatch:
			t.Fatalf("refusal %+v: want a 400 with the generic detail", prob)
		case want == ReasonPath && prob.Reason != ReasonPath, want != ReasonPath && prob.Reason == ReasonPath:
			t.Fatalf("%s %s?%s: reason %q, kin-openapi says %q", method, path, query, prob.Reason, want)
		case prob.Reason != ReasonPath && prob.Reason != ReasonParameter && prob.Reason != ReasonBody && prob.Reason != ReasonRequest:
			t.Fatalf("reason %q is not a fixed validation reason", prob.Reason)
		}
	})
}

// kinReference is kin-openapi used directly, as its documentation shows,
// with the policy's documented decisions and nothing of the policy's code.
type kinReference struct {
	router routers.Router
}

func newKinReference(t testing.TB, spec string) *kinReference {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil // ignored: the policy matches paths only
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &kinReference{router: r}
}

// verdict is "" when kin-openapi accepts r, ReasonPath when no operation
// matches, and ReasonRequest for any other refusal.
func (k *kinReference) verdict(r *http.Request) string {
	route, params, err := k.router.FindRoute(r)
	if err != nil {
		return ReasonPath
	}
	if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/") != strings.HasSuffix(route.Path, "/") {
		return ReasonPath
	}
	err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			RejectWhenRequestBodyNotSpecified: true,
		},
	})
	if err != nil {
		return ReasonRequest
	}
	return ""
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
