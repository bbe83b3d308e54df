package openapi

import (
	"io"
	"strings"
	"testing"
)

func BenchmarkValidGET(b *testing.B) {
	p := specPolicy(b, "")
	b.ReportAllocs()
	for b.Loop() {
		if prob := p.Handle(newCtx("GET", "/orders/42?fields=all", "")); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

func BenchmarkValidPOST(b *testing.B) {
	p := specPolicy(b, "")
	body := `{"item":"apple","qty":3}`
	c := newCtx("POST", "/orders", body)
	b.ReportAllocs()
	for b.Loop() {
		c.Request.Body = io.NopCloser(strings.NewReader(body))
		c.Request.ContentLength = int64(len(body))
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}
