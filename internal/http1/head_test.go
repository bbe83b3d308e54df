package http1

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// parse runs the head parser on raw (a whole head) and returns the
// verdict, the head and the header fields.
func parse(raw string) (*Error, head, http.Header) {
	var h head
	var f fields
	hdr := http.Header{}
	f.reset(hdr, DefaultMaxHeaders)
	err := parseRequestHead(raw, &h, &f)
	return err, h, hdr
}

type refusalCase struct {
	desc string
	raw  string
	want *Error
}

func checkRefusals(t *testing.T, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err, _, _ := parse(tc.raw)
			if err != tc.want {
				t.Fatalf("verdict %v, want %v", err, tc.want)
			}
		})
	}
}

func req(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

func TestAcceptsAPlainRequest(t *testing.T) {
	err, h, hdr := parse(req("GET /a/b?x=1 HTTP/1.1", "Host: gw.test", "Accept: */*", "X-Two: a", "x-two: b", "user-agent:  curl/8 "))
	if err != nil {
		t.Fatal(err)
	}
	if h.method != "GET" || h.target != "/a/b?x=1" || h.host != "gw.test" || h.minor != 1 || h.close || h.contentLength != -1 || h.chunked {
		t.Fatalf("head %+v", h)
	}
	want := http.Header{"Accept": {"*/*"}, "X-Two": {"a", "b"}, "User-Agent": {"curl/8"}}
	if len(hdr) != len(want) {
		t.Fatalf("header %v, want %v", hdr, want)
	}
	for k, v := range want {
		if strings.Join(hdr[k], "|") != strings.Join(v, "|") {
			t.Errorf("%s = %q, want %q", k, hdr[k], v)
		}
	}
}

// RFC 9112 section 3: request-line = method SP request-target SP HTTP-version.
func TestRequestLineIsStrict(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"no spaces", req("GET"), ErrRequestLine},
		{"one space", req("GET /"), ErrRequestLine},
		{"two spaces between method and target", req("GET  / HTTP/1.1", "Host: a"), ErrVersion},
		{"tab as separator", req("GET\t/ HTTP/1.1", "Host: a"), ErrRequestLine},
		{"trailing space after version", req("GET / HTTP/1.1 ", "Host: a"), ErrVersion},
		{"empty method", req(" / HTTP/1.1", "Host: a"), ErrMethod},
		{"method with a non-token byte", req("G(T / HTTP/1.1", "Host: a"), ErrMethod},
		{"leading empty line", "\r\n" + req("GET / HTTP/1.1", "Host: a"), ErrRequestLine},
	})
}

// RFC 9112 section 2.3 and RFC 9110 section 15.6.6.
func TestVersionIsHTTP10Or11(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"HTTP/2.0 is 505", req("GET / HTTP/2.0", "Host: a"), ErrVersionUnknown},
		{"HTTP/1.2 is 505", req("GET / HTTP/1.2", "Host: a"), ErrVersionUnknown},
		{"lower-case http", req("GET / http/1.1", "Host: a"), ErrVersion},
		{"HTTP/1.10", req("GET / HTTP/1.10", "Host: a"), ErrVersion},
		{"no version", req("GET / ", "Host: a"), ErrVersion},
	})
	if err, h, _ := parse(req("GET / HTTP/1.0")); err != nil || h.minor != 0 || !h.close {
		t.Fatalf("HTTP/1.0 without Host: %v %+v", err, h)
	}
	if err, h, _ := parse(req("GET / HTTP/1.0", "Connection: keep-alive")); err != nil || h.close {
		t.Fatalf("HTTP/1.0 keep-alive: %v %+v", err, h)
	}
}

// RFC 9112 section 3.2: origin-form only; CONNECT, absolute-form and
// asterisk-form (but for OPTIONS) are refused.
func TestOnlyOriginFormTargets(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"absolute-form", req("GET http://evil/x HTTP/1.1", "Host: a"), ErrAbsoluteForm},
		{"relative path", req("GET x/y HTTP/1.1", "Host: a"), ErrAbsoluteForm},
		{"authority-form CONNECT", req("CONNECT evil:443 HTTP/1.1", "Host: evil:443"), ErrConnect},
		{"CONNECT with a path", req("CONNECT /x HTTP/1.1", "Host: a"), ErrConnect},
		{"asterisk-form GET", req("GET * HTTP/1.1", "Host: a"), ErrAsteriskForm},
		{"fragment", req("GET /a#b HTTP/1.1", "Host: a"), ErrTarget},
		{"DEL byte", req("GET /a\x7f HTTP/1.1", "Host: a"), ErrTarget},
		{"NUL byte", req("GET /a\x00 HTTP/1.1", "Host: a"), ErrTarget},
		{"obs-text byte", req("GET /\xff HTTP/1.1", "Host: a"), ErrTarget},
	})
	if err, h, _ := parse(req("OPTIONS * HTTP/1.1", "Host: a")); err != nil || !h.optionsStar {
		t.Fatalf("OPTIONS *: %v %+v", err, h)
	}
}

// RFC 9112 section 2.2: lines end in CRLF; a bare CR or LF is refused.
func TestBareCROrLFRefused(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", ErrBareLF},
		{"bare LF after a field", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", ErrBareLF},
		{"bare CR inside a value", req("GET / HTTP/1.1", "Host: a", "X: a\rb"), ErrHeaderValue},
		{"bare CR in the request line", req("GET /\r HTTP/1.1", "Host: a"), ErrTarget},
	})
}

// RFC 9112 section 5.2: obs-fold is refused.
func TestObsFoldRefused(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"space continuation", req("GET / HTTP/1.1", "Host: a", "X: a", " b"), ErrObsFold},
		{"tab continuation", req("GET / HTTP/1.1", "Host: a", "X: a", "\tb"), ErrObsFold},
		{"continuation hiding Transfer-Encoding", req("POST / HTTP/1.1", "Host: a", "Content-Length: 5", " Transfer-Encoding: chunked"), ErrObsFold},
	})
}

// RFC 9110 section 5.1 (field-name = token) and RFC 9112 section 5.1 (no
// whitespace before the colon).
func TestFieldNamesAreTokens(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"space before colon", req("GET / HTTP/1.1", "Host: a", "X-Note : a"), ErrHeaderName},
		{"tab before colon", req("GET / HTTP/1.1", "Host: a", "X-Note\t: a"), ErrHeaderName},
		{"empty name", req("GET / HTTP/1.1", "Host: a", ": a"), ErrHeaderName},
		{"no colon", req("GET / HTTP/1.1", "Host: a", "X-Note a"), ErrHeaderLine},
		{"non-token byte", req("GET / HTTP/1.1", "Host: a", "X(y): a"), ErrHeaderName},
		{"NUL in name", req("GET / HTTP/1.1", "Host: a", "X\x00: a"), ErrHeaderName},
	})
}

// RFC 9110 section 5.5: no control bytes but HTAB in values.
func TestFieldValuesHaveNoControlBytes(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"NUL", req("GET / HTTP/1.1", "Host: a", "X: a\x00b"), ErrHeaderValue},
		{"vertical tab", req("GET / HTTP/1.1", "Host: a", "X: \vb"), ErrHeaderValue},
		{"DEL", req("GET / HTTP/1.1", "Host: a", "X: a\x7f"), ErrHeaderValue},
		{"escape", req("GET / HTTP/1.1", "Host: a", "X: \x1b[31m"), ErrHeaderValue},
	})
	if err, _, hdr := parse(req("GET / HTTP/1.1", "Host: a", "X: \ta\tb é \t")); err != nil || hdr.Get("X") != "a\tb é" {
		t.Fatalf("HTAB and obs-text: %v %q", err, hdr.Get("X"))
	}
}

// RFC 9112 section 3.2: exactly one Host on HTTP/1.1.
func TestHostExactlyOnce(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"missing on 1.1", req("GET / HTTP/1.1", "X: a"), ErrNoHost},
		{"duplicate", req("GET / HTTP/1.1", "Host: a", "Host: b"), ErrDupHost},
		{"duplicate in other case", req("GET / HTTP/1.1", "Host: a", "host: a"), ErrDupHost},
	})
	if err, h, hdr := parse(req("GET / HTTP/1.1", "host: Gw.Test")); err != nil || h.host != "Gw.Test" || hdr["Host"] != nil {
		t.Fatalf("Host kept out of the header map: %v %+v %v", err, h, hdr)
	}
}

// RFC 9112 section 6.3 items 3-5: one framing, one length.
func TestContentLengthStrict(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"duplicate identical", req("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Content-Length: 4"), ErrDupCL},
		{"duplicate different", req("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Content-Length: 5"), ErrDupCL},
		{"list", req("POST / HTTP/1.1", "Host: a", "Content-Length: 4, 4"), ErrBadCL},
		{"sign", req("POST / HTTP/1.1", "Host: a", "Content-Length: +4"), ErrBadCL},
		{"negative", req("POST / HTTP/1.1", "Host: a", "Content-Length: -1"), ErrBadCL},
		{"hex", req("POST / HTTP/1.1", "Host: a", "Content-Length: 0x4"), ErrBadCL},
		{"empty", req("POST / HTTP/1.1", "Host: a", "Content-Length: "), ErrBadCL},
		{"space inside", req("POST / HTTP/1.1", "Host: a", "Content-Length: 1 2"), ErrBadCL},
		{"too many digits", req("POST / HTTP/1.1", "Host: a", "Content-Length: 9999999999999999999"), ErrBadCL},
	})
	if err, h, _ := parse(req("POST / HTTP/1.1", "Host: a", "Content-Length:  12 ")); err != nil || h.contentLength != 12 {
		t.Fatalf("%v %+v", err, h)
	}
}

func TestContentLengthWithTransferEncodingRefused(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"CL then TE", req("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Transfer-Encoding: chunked"), ErrCLAndTE},
		{"TE then CL", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 4"), ErrCLAndTE},
	})
}

// RFC 9112 section 6.1.
func TestTransferEncodingOnlyChunked(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"on HTTP/1.0", req("POST / HTTP/1.0", "Transfer-Encoding: chunked"), ErrTE10},
		{"twice", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), ErrDupTE},
		{"gzip", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip"), ErrTEUnsupported},
		{"list", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, identity"), ErrTEUnsupported},
		{"xchunked", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked"), ErrTEUnsupported},
		{"tab before chunked", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding:\tchunked"), ErrTEObfuscated},
		{"tab after chunked", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked\t"), ErrTEObfuscated},
		{"vertical tab", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: \vchunked"), ErrHeaderValue},
		{"empty", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: "), ErrTEObfuscated},
		{"empty, folded onto the next line", req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding:", " chunked"), ErrTEObfuscated},
	})
	if err, h, _ := parse(req("POST / HTTP/1.1", "Host: a", "transfer-encoding:  CHUNKED ")); err != nil || !h.chunked {
		t.Fatalf("%v %+v", err, h)
	}
}

// RFC 9110 section 10.1.1.
func TestExpectOnly100Continue(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"other expectation", req("POST / HTTP/1.1", "Host: a", "Expect: 200-ok"), ErrExpectation},
	})
	if err, h, _ := parse(req("POST / HTTP/1.1", "Host: a", "Expect: 100-Continue", "Content-Length: 3")); err != nil || !h.expectContinue {
		t.Fatalf("%v %+v", err, h)
	}
}

func TestTooManyHeaderFields(t *testing.T) {
	lines := []string{"GET / HTTP/1.1", "Host: a"}
	for i := 0; i <= DefaultMaxHeaders; i++ {
		lines = append(lines, "X: y")
	}
	checkRefusals(t, []refusalCase{{"one more than the limit", req(lines...), ErrTooManyHeaders}})
}

func TestConnectionTokens(t *testing.T) {
	for _, tc := range []struct {
		desc           string
		raw            string
		close, upgrade bool
	}{
		{"close", req("GET / HTTP/1.1", "Host: a", "Connection: keep-alive, Close"), true, false},
		{"upgrade with Upgrade", req("GET / HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket"), false, true},
		{"upgrade without Upgrade", req("GET / HTTP/1.1", "Host: a", "Connection: upgrade"), false, false},
		{"Upgrade without the token", req("GET / HTTP/1.1", "Host: a", "Upgrade: websocket"), false, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err, h, _ := parse(tc.raw)
			if err != nil || h.close != tc.close || h.upgrade != tc.upgrade {
				t.Fatalf("%v %+v", err, h)
			}
		})
	}
}

func TestCanonicalKeysAsNetHTTP(t *testing.T) {
	var scratch []byte
	for _, name := range []string{"content-type", "X-API-KEY", "x_custom_thing", "Accept", "a-b-c", "WWW-Authenticate", "sec-websocket-key", "x-request-id", "X-", "-x"} {
		want := http.CanonicalHeaderKey(name)
		if got := keyCanon(name, &scratch); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
}

// setURL gives what url.ParseRequestURI gives, on the fast path too.
func TestURLAsNetURL(t *testing.T) {
	for _, target := range []string{"/", "/a/b", "/a?x=1&y=%2F", "/a?", "/%41b", "/a b", "/a!b", "/a%2Fb", "/a;b=c", "/~u/$x&y+z,w:v=u@t", "*"} {
		var u url.URL
		err := setURL(&u, target)
		want, werr := url.ParseRequestURI(target)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: %v vs %v", target, err, werr)
		}
		if err == nil && u != *want {
			t.Errorf("%q: %#v, want %#v", target, u, *want)
		}
	}
}

func TestParsingAPlainRequestDoesNotAllocate(t *testing.T) {
	raw := req("GET /orders/42?full=1 HTTP/1.1", "Host: api.test", "User-Agent: bench", "Accept: */*", "Authorization: Bearer x")
	var h head
	var f fields
	hdr := http.Header{}
	var u url.URL
	allocs := testing.AllocsPerRun(100, func() {
		f.reset(hdr, DefaultMaxHeaders)
		if err := parseRequestHead(raw, &h, &f); err != nil {
			t.Fatal(err)
		}
		if err := setURL(&u, h.target); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per head", allocs)
	}
}

// RFC 9110 section 5.3: repeated field lines are one field whose values are
// in order. The parser skips the lookup of a name whose keyBit it has not
// seen in this head, so the cases below repeat names among others that share
// their bit (same length, same last byte) and names it has not.
func TestRepeatedFieldsMergeInOrder(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		lines []string
		want  http.Header
	}{
		{desc: "repeat after another name", lines: []string{"X-A: 1", "Accept: */*", "X-A: 2"},
			want: http.Header{"X-A": {"1", "2"}, "Accept": {"*/*"}}},
		{desc: "same bit, different names", lines: []string{"X-Aa: 1", "X-Ba: 2", "X-Ca: 3"},
			want: http.Header{"X-Aa": {"1"}, "X-Ba": {"2"}, "X-Ca": {"3"}}},
		{desc: "same bit, repeats interleaved", lines: []string{"X-Aa: 1", "X-Ba: 2", "X-Aa: 3", "x-ba: 4", "X-AA: 5"},
			want: http.Header{"X-Aa": {"1", "3", "5"}, "X-Ba": {"2", "4"}}},
		{desc: "three repeats in other spellings", lines: []string{"accept: a", "ACCEPT: b", "Accept: c"},
			want: http.Header{"Accept": {"a", "b", "c"}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if keyBit("X-Aa") != keyBit("X-Ba") {
				t.Fatal("the cases need X-Aa and X-Ba to share a bit")
			}
			err, _, hdr := parse(req(append([]string{"GET / HTTP/1.1", "Host: gw.test"}, tc.lines...)...))
			if err != nil {
				t.Fatal(err)
			}
			if len(hdr) != len(tc.want) {
				t.Fatalf("header %v, want %v", hdr, tc.want)
			}
			for k, v := range tc.want {
				if strings.Join(hdr[k], "|") != strings.Join(v, "|") {
					t.Errorf("%s = %q, want %q", k, hdr[k], v)
				}
			}
		})
	}
}

// The heads the load harness sends and receives: wrk's request and nginx's
// "ok" response, and a browser's request with a dozen fields.
func BenchmarkParseHead(b *testing.B) {
	browser := req("GET /orders/42?full=1 HTTP/1.1", "Host: api.test",
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language: en-US,en;q=0.5",
		"Accept-Encoding: gzip, deflate, br", "Connection: keep-alive", "Cookie: session=abc; theme=dark",
		"Upgrade-Insecure-Requests: 1", "Sec-Fetch-Dest: document", "Sec-Fetch-Mode: navigate",
		"Sec-Fetch-Site: none", "Sec-Fetch-User: ?1", "Priority: u=0, i")
	for _, tc := range []struct{ desc, raw string }{
		{desc: "wrk request", raw: req("GET /ok HTTP/1.1", "Host: 127.0.0.1:19103")},
		{desc: "browser request", raw: browser},
	} {
		b.Run(tc.desc, func(b *testing.B) {
			var h head
			var f fields
			hdr := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				f.reset(hdr, DefaultMaxHeaders)
				if err := parseRequestHead(tc.raw, &h, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("nginx response", func(b *testing.B) {
		raw := "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 02:07:41 GMT\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
		var h respHead
		var f fields
		var r http.Response
		hdr := http.Header{}
		b.ReportAllocs()
		for b.Loop() {
			f.reset(hdr, DefaultMaxHeaders)
			if err := parseResponseHead(raw, &h, &f, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
