package openapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// FuzzHandle feeds arbitrary paths, queries and bodies to the validator:
// it must never panic, and a refusal carries only a fixed reason and the
// generic detail.
func FuzzHandle(f *testing.F) {
	f.Add("GET", "/orders/1", "fields=all", "")
	f.Add("POST", "/orders", "", `{"item":"a","qty":1}`)
	f.Add("POST", "/orders", "", `{"item":[1,{"x":null}],"qty":-1e309}`)
	f.Add("GET", "/orders/%zz", "fields=%", "")
	p := specPolicy(f, "")
	reasons := map[string]bool{ReasonPath: true, ReasonParameter: true, ReasonBody: true, ReasonRequest: true, ReasonTooLarge: true, ReasonUnread: true}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !validMethod(method) {
			return
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{"Content-Type": {"application/json"}}, Body: http.NoBody}
		if body != "" {
			r.Body = nopCloser{strings.NewReader(body)}
			r.ContentLength = int64(len(body))
		}
		c := &pipeline.Context{Request: r, Path: path}
		prob := p.Handle(c)
		if prob == nil {
			return
		}
		if !reasons[prob.Reason] || (prob.Status == 400 && prob.Detail != detailMismatch && prob.Reason != ReasonUnread) {
			t.Fatalf("refusal %+v", prob)
		}
	})
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
