package response

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// body10K is a ~10 KiB list response of the kind field filtering guards.
func body10K() []byte {
	var b bytes.Buffer
	b.WriteString(`{"total":40,"items":[`)
	for i := 0; b.Len() < 10<<10-260; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"customer %d","email":"c%d@example.com","password_hash":"$2a$10$abcdefghijklmnopqrstuv","tags":["a","b"],"address":{"city":"Lyon","zip":"69001"}}`, i, i, i)
	}
	b.WriteString(`],"debug":{"sql":"SELECT * FROM customers"}}`)
	return b.Bytes()
}

func benchFilter(b *testing.B, src string) {
	p := mustCompile(b, src).(pipeline.ResponseBodyFilter)
	body := body10K()
	c := ctx("GET", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	r := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Reset(body)
		out, err := p.FilterResponse(c, 200, h, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterFieldsDeny10KiB(b *testing.B) {
	benchFilter(b, "kind: filter_fields\ndeny: [\"items[].password_hash\", debug]")
}

func BenchmarkFilterFieldsAllow10KiB(b *testing.B) {
	benchFilter(b, "kind: filter_fields\nallow: [total, \"items[].id\", \"items[].name\", \"items[].address.city\"]")
}

func BenchmarkSecurityHeaders(b *testing.B) {
	p := mustCompile(b, "kind: security_headers\nstrip: [X-Internal-Host]").(pipeline.ResponsePolicy)
	c := ctx("GET", nil)
	c.Identity = &pipeline.Identity{Consumer: "alice"}
	h := http.Header{"Content-Type": {"application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		h["Server"] = nil
		p.Respond(c, 200, h)
	}
}

func BenchmarkCORSActualResponse(b *testing.B) {
	p := mustCompile(b, "kind: cors\norigins: [\"https://app.example.com\", \"https://*.example.org\"]\ncredentials: true").(pipeline.ResponsePolicy)
	c := ctx("GET", http.Header{"Origin": {"https://a.example.org"}})
	b.ReportAllocs()
	for b.Loop() {
		h := http.Header{"Content-Type": {"application/json"}}
		p.Respond(c, 200, h)
	}
}

func BenchmarkCORSPreflight(b *testing.B) {
	p := mustCompile(b, "kind: cors\norigins: [\"https://app.example.com\"]\nmethods: [GET, PUT]\nheaders: [Content-Type]").(pipeline.RequestPolicy)
	c := ctx("OPTIONS", http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type"}})
	b.ReportAllocs()
	for b.Loop() {
		if p.Handle(c).Status != 204 {
			b.Fatal("not answered")
		}
	}
}

func BenchmarkDeprecation(b *testing.B) {
	p := mustCompile(b, "kind: deprecation\ndeprecated: 2026-01-01T00:00:00Z\nsunset: 2027-01-01T00:00:00Z").(pipeline.ResponsePolicy)
	c := ctx("GET", nil)
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		p.Respond(c, 200, h)
	}
}

func BenchmarkHideErrors500(b *testing.B) {
	p := mustCompile(b, "kind: hide_errors").(pipeline.ResponseBodyFilter)
	c := ctx("GET", nil)
	b.ReportAllocs()
	for b.Loop() {
		h := http.Header{"Content-Type": {"text/plain"}}
		if _, err := p.FilterResponse(c, 500, h, strings.NewReader("trace")); err != nil {
			b.Fatal(err)
		}
	}
}
