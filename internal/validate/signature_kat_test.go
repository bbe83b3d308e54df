package validate

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// TestSignatureKnownAnswerDerivedComponents covers, with a literal base
// and a literal signature, every component form the RFC's own examples
// (TestSignatureRFCVectors) leave out: @target-uri, @scheme,
// @request-target, @query, an authority with the scheme's default port, a
// field sent on two lines, and a field with ;bs. The base was written by
// hand from RFC 9421 section 2 and signed outside Go (Python's cryptography
// package, the RFC's test-key-ed25519), so a change in how the gateway
// serializes any of them fails here; the policy tests' own signer builds
// its base with the code under test and cannot notice.
func TestSignatureKnownAnswerDerivedComponents(t *testing.T) {
	const (
		input = `("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "date" "x-multi" "x-bin";bs)` +
			`;created=1618884473;keyid="test-key-ed25519"`
		sig  = "RkKti9wTKv7vA7oK5dH/RpywYO8EqcpL9W6Z8CPVgTs/bXcpfBB5eiKLHa3GrwWb8J8ND7ssPVp5GaeF6YruDw=="
		base = "\"@method\": POST\n" +
			"\"@target-uri\": http://example.com/foo/bar?param=Value&Pet=dog\n" +
			"\"@authority\": example.com\n" +
			"\"@scheme\": http\n" +
			"\"@request-target\": /foo/bar?param=Value&Pet=dog\n" +
			"\"@path\": /foo/bar\n" +
			"\"@query\": ?param=Value&Pet=dog\n" +
			"\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n" +
			"\"x-multi\": a, b\n" +
			"\"x-bin\";bs: :YmluYXJ5IQ==:, :dHdv:\n" +
			"\"@signature-params\": " + input
	)
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST /foo/bar?param=Value&Pet=dog HTTP/1.1\r\n" +
		"Host: Example.COM:80\r\n" +
		"Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n" +
		"X-Multi: a\r\n" +
		"X-Multi:  b \r\n" +
		"X-Bin: binary!\r\n" +
		"X-Bin: two\r\n" +
		"Content-Length: 0\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	dict, err := parseSFDictionary("sig1=" + input)
	if err != nil {
		t.Fatal(err)
	}
	in, ok := parseSignatureInput(dict[0])
	if !ok {
		t.Fatal("input refused")
	}
	got, err := appendSignatureBase(nil, r, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != base {
		t.Fatalf("base:\n%s\nwant:\n%s", got, base)
	}
	p := rfcPolicy(t, time.Unix(rfcCreated+10, 0))
	r.Header.Set("Signature-Input", "sig1="+input)
	r.Header.Set("Signature", "sig1=:"+sig+":")
	if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil {
		t.Fatalf("refused: %s", prob.Reason)
	}
}
