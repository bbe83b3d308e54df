package validate

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// chunked makes r look like a request with a body of unknown length.
func chunked(r *http.Request) *http.Request {
	r.ContentLength = -1
	r.Body = io.NopCloser(r.Body)
	return r
}

const schemaPolicy = `kind: validate
max_body: 1KiB
content_types: [application/json]
json_schema:
  type: object
  required: [name, items]
  additionalProperties: false
  properties:
    name: {type: string, maxLength: 20}
    items:
      type: array
      items:
        type: object
        properties:
          price: {type: number, minimum: 0}
    meta:
      type: object
      additionalProperties: {type: integer}
`

func TestValidateBody(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, schemaPolicy)
	good := `{"name":"pen","items":[{"price":1.5}]}`
	cases := []struct {
		name, method, ct, body string
		unknownLength          bool
		status                 int
		detail                 string
	}{
		{"valid", "POST", "application/json", good, false, 0, ""},
		{"valid with charset, chunked", "POST", "application/json; charset=utf-8", good, true, 0, ""},
		{"GET without body", "GET", "", "", false, 0, ""},
		{"wrong type", "POST", "text/plain", good, false, 415, "The request body's media type is not accepted."},
		{"no type", "POST", "", good, false, 415, "The request body's media type is not accepted."},
		{"malformed", "POST", "application/json", `{"name":"pen",`, false, 400, "The request body is not valid."},
		{"trailing garbage", "POST", "application/json", good + `x`, false, 400, "The request body is not valid."},
		{"empty POST", "POST", "application/json", "", false, 400, "The request body is not valid."},
		{"too large", "POST", "application/json", `{"name":"` + strings.Repeat("a", 2000) + `"}`, false, 413, "The request body is too large."},
		{"too large, chunked", "POST", "application/json", `{"name":"` + strings.Repeat("a", 2000) + `"}`, true, 413, "The request body is too large."},
		{"schema: nested", "POST", "application/json", `{"name":"pen","items":[{"price":1},{"price":-7}]}`, false, 400, `The request body is not valid. Failing location: "/items/1/price".`},
		{"schema: missing property", "POST", "application/json", `{"name":"pen"}`, false, 400, "The request body is not valid."},
		{"duplicate name the schema would judge by its last value", "POST", "application/json", `{"name":"pen","items":[{"price":-7,"price":1}]}`, false, 400, "The request body is not valid. It is not I-JSON (RFC 7493): duplicate member name."},
		{"duplicate top-level name", "POST", "application/json", `{"name":"pen","name":"ink","items":[]}`, false, 400, "The request body is not valid. It is not I-JSON (RFC 7493): duplicate member name."},
		{"lone surrogate", "POST", "application/json", `{"name":"\ud800","items":[]}`, false, 400, "The request body is not valid. It is not I-JSON (RFC 7493): lone surrogate escape."},
		{"invalid UTF-8", "POST", "application/json", "{\"name\":\"\xff\",\"items\":[]}", false, 400, "The request body is not valid. It is not I-JSON (RFC 7493): invalid UTF-8."},
		{"integer beyond 2^53", "POST", "application/json", `{"name":"pen","items":[{"price":9007199254740993}]}`, false, 400, "The request body is not valid. It is not I-JSON (RFC 7493): integer not exactly a double (beyond 2^53)."},
		{"schema: odd key is not echoed", "POST", "application/json", `{"name":"pen","items":[],"meta":{"<img src=x>":"secret-value"}}`, false, 400, `The request body is not valid. Failing location: "/meta".`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pipelinetest.Request(tc.method, "/", tc.body)
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if tc.unknownLength {
				chunked(r)
			}
			prob := p.Handle(pipelinetest.Context(r, "192.0.2.1"))
			if tc.status == 0 {
				if prob != nil {
					t.Fatalf("refused: %+v", prob)
				}
				got, err := io.ReadAll(r.Body)
				if err != nil || string(got) != tc.body || r.ContentLength != int64(len(tc.body)) {
					t.Errorf("body after check = %q (len %d), %v; want %q", got, r.ContentLength, err, tc.body)
				}
				return
			}
			if prob == nil || prob.Status != tc.status || prob.Detail != tc.detail {
				t.Fatalf("got %+v, want %d %q", prob, tc.status, tc.detail)
			}
			for _, leak := range []string{"secret-value", "img", "-7", "pen"} {
				if strings.Contains(prob.Detail, leak) || strings.Contains(prob.Reason, leak) {
					t.Errorf("problem echoes %q: %+v", leak, prob)
				}
			}
		})
	}
}

func TestValidateLimits(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, "kind: validate\nmax_headers: 3\nmax_query_params: 2\nmax_url_length: 40\n")
	check := func(target string, headers int, want int) {
		t.Helper()
		r := pipelinetest.Request("GET", target, "")
		for i := 0; i < headers; i++ {
			r.Header.Add("X-H", "v")
		}
		prob := p.Handle(pipelinetest.Context(r, "192.0.2.1"))
		got := 0
		if prob != nil {
			got = prob.Status
		}
		if got != want {
			t.Errorf("%s with %d headers: status %d, want %d (%+v)", target, headers, got, want, prob)
		}
	}
	check("/a?x=1&y=2", 3, 0)
	check("/a?x=1&&y=2&", 3, 0) // empty parts are not parameters
	check("/a?x=1&y=2&z=3", 0, 400)
	check("/a?"+strings.Repeat("x", 40), 0, 414)
	check("/a", 4, 431)
}

func TestValidateStreamsWithoutInspection(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, "kind: validate\nmax_body: 10\ncontent_types: [\"image/*\"]\n")
	r := chunked(pipelinetest.Request("PUT", "/", strings.Repeat("x", 50)))
	r.Header.Set("Content-Type", "image/png")
	if prob := p.Handle(pipelinetest.Context(r, "192.0.2.1")); prob != nil {
		t.Fatalf("refused before reading: %+v", prob)
	}
	_, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Errorf("reading past max_body: %v, want *http.MaxBytesError", err)
	}
	r = pipelinetest.Request("PUT", "/", "abc")
	r.Header.Set("Content-Type", "text/plain")
	if prob := p.Handle(pipelinetest.Context(r, "192.0.2.1")); prob == nil || prob.Status != 415 {
		t.Errorf("text/plain under image/*: %+v", prob)
	}
}

func TestValidateRefusesEncodedBody(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, "kind: validate\njson: true\n")
	r := pipelinetest.Request("POST", "/", "\x1f\x8b...")
	r.Header.Set("Content-Encoding", "gzip")
	if prob := p.Handle(pipelinetest.Context(r, "192.0.2.1")); prob == nil || prob.Status != 415 {
		t.Errorf("gzip body: %+v", prob)
	}
}

func TestValidateSchemaFile(t *testing.T) {
	f := pipelinetest.WriteFile(t, "s.json", `{"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}}`)
	p := pipelinetest.MustRequestPolicy(t, "kind: validate\njson_schema: {file: "+f+"}\n")
	for body, want := range map[string]int{`{"id":3}`: 0, `{"id":"3"}`: 400, `[]`: 400} {
		r := pipelinetest.Request("POST", "/", body)
		prob := p.Handle(pipelinetest.Context(r, "192.0.2.1"))
		if got := map[bool]int{true: 0, false: 400}[prob == nil]; got != want {
			t.Errorf("%s: %+v, want %d", body, prob, want)
		}
	}
}

func TestValidateConfigErrors(t *testing.T) {
	bad := pipelinetest.WriteFile(t, "bad.json", `{"type": 12}`)
	cases := map[string]string{
		"kind: validate\n":                                    "at least one check is required",
		"kind: validate\nmax_headers: -1\n":                   "max_headers: must not be negative",
		"kind: validate\ncontent_types: [json]\n":             `content_types[0]: "json" is not a media type`,
		"kind: validate\ncontent_types: [\"*/*\"]\n":          `content_types[0]: "*/*" is not a media type`,
		"kind: validate\njson_schema: {type: 12}\n":           "t.yaml:2:14: routes[0].policies[0].json_schema: invalid schema",
		"kind: validate\njson_schema: {file: " + bad + "}\n":  "invalid schema",
		"kind: validate\njson_schema: {file: /nonexistent}\n": "invalid schema",
		"kind: validate\njson_schema: [1]\n":                  "must be a mapping",
		"kind: validate\njson: true\nmax_body: 1GiB\n":        "max_body: at most 64MiB",
		"kind: validate\nmax_bdy: 1KiB\n":                     `unknown field "max_bdy"`,
	}
	for src, want := range cases {
		if _, err := pipelinetest.Compile(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want %q", src, err, want)
		}
	}
}

func TestSafePointer(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"items", "0", "price"}, "/items/0/price"},
		{[]string{"a", "x/y", "b"}, "/a"},
		{[]string{"a", "", "b"}, "/a"},
		{[]string{strings.Repeat("k", 65)}, ""},
	}
	for _, tc := range cases {
		if got, _ := safePointer(tc.in); got != tc.want {
			t.Errorf("safePointer(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkValidateLimits(b *testing.B) {
	p := pipelinetest.MustRequestPolicy(b, "kind: validate\nmax_headers: 50\nmax_query_params: 20\nmax_url_length: 2048\nmax_body: 1MiB\n")
	r := pipelinetest.Request("GET", "/v1/items?a=1&b=2&c=3", "")
	for i := 0; i < 10; i++ {
		r.Header.Add("X-H", "v")
	}
	c := pipelinetest.Context(r, "192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		if p.Handle(c) != nil {
			b.Fatal("refused")
		}
	}
}

func benchBody(b *testing.B, src, body string) {
	p := pipelinetest.MustRequestPolicy(b, src)
	c := pipelinetest.Context(pipelinetest.Request("POST", "/", ""), "192.0.2.1")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := c.Request
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header = http.Header{"Content-Type": {"application/json"}}
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

const benchJSON = `{"name":"pen","items":[{"price":1.5},{"price":2},{"price":3.25}]}`

func BenchmarkValidateJSON(b *testing.B) {
	benchBody(b, "kind: validate\ncontent_types: [application/json]\njson: true\n", benchJSON)
}

func BenchmarkValidateJSONSchema(b *testing.B) { benchBody(b, schemaPolicy, benchJSON) }
