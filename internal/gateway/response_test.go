package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/upstream"
)

// Error mapping (forward.go) and the response headers (response.go).

// errReader is a body whose reads fail with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
func (e errReader) Close() error             { return nil }

// failedBody is a body tracker that has seen err.
func failedBody(err error) *bodyTracker {
	b := &bodyTracker{rc: errReader{err}}
	_, _ = b.Read(make([]byte, 1))
	return b
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestUpstreamErrorsAreMappedToTheirAnswer(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		err        error
		picked     bool
		body       *bodyTracker
		clientGone bool
		want       int
		close      bool
		abort      bool
	}{
		{desc: "the client's body timed out: 408, whatever the upstream error", err: errors.New("write: broken pipe"), picked: true,
			body: failedBody(os.ErrDeadlineExceeded), want: 408, close: true},
		{desc: "the engine's read_timeout on the body is a 408 too", err: errors.New("x"), picked: true,
			body: failedBody(&http1.Error{Status: 408, Reason: "body"}), want: 408, close: true},
		{desc: "the client's body broke a framing rule: the engine's status", err: fmt.Errorf("send: %w", &http1.Error{Status: 400, Reason: "bad chunk"}),
			picked: true, want: 400, close: true},
		{desc: "no healthy target: 503", err: upstream.ErrNoHealthyTarget, want: 503},
		{desc: "the body was over max_body_size: 413", err: fmt.Errorf("send: %w", &http.MaxBytesError{Limit: 1}), picked: true, want: 413, close: true},
		{desc: "the client went away: no answer", err: context.Canceled, picked: true, clientGone: true, want: 499, abort: true},
		{desc: "the client's body broke off: no answer", err: errors.New("x"), picked: true, body: failedBody(errors.New("reset")), want: 499, abort: true},
		{desc: "the upstream timed out: 504", err: fmt.Errorf("read: %w", timeoutError{}), picked: true, want: 504},
		{desc: "any other upstream failure: 502", err: errors.New("connection refused"), picked: true, want: 502},
	} {
		f := forwardFailure(tc.err, tc.picked, tc.body, tc.clientGone)
		if f.status != tc.want || f.close != tc.close || f.abort != tc.abort {
			t.Errorf("%s: got %+v", tc.desc, f)
		}
		if !f.abort && (f.detail == "" || f.reason == "") {
			t.Errorf("%s: no detail or reason: %+v", tc.desc, f)
		}
	}
}

func TestFailedUpstreamIsAnsweredOnce(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "GET", "/site/", "example.com")
	x.out.route = "site"
	x.fail(forwardFailure(errors.New("connection refused"), true, nil, false))
	if w.Code != 502 || x.out.status != 502 || x.out.route != "site" || x.out.bytesOut != int64(w.Body.Len()) {
		t.Errorf("got %d, outcome %+v", w.Code, x.out)
	}
	x, w = newExchange(stagesSnapshot(t), "GET", "/site/", "example.com")
	x.fail(forwardFailure(context.Canceled, true, nil, true))
	if w.Body.Len() != 0 || !x.out.abort || x.out.status != 499 {
		t.Errorf("client gone: wrote %q, outcome %+v", w.Body.String(), x.out)
	}
}

func TestResponseHeadersTheGatewayDecidesAreNotCopied(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		hsts, tls bool
		want      []string // names copied, sorted
	}{
		{desc: "over TLS without the gateway's HSTS the upstream's is kept", tls: true,
			want: []string{"Content-Type", "Strict-Transport-Security"}},
		{desc: "the gateway's HSTS replaces the upstream's", hsts: true, tls: true,
			want: []string{"Content-Type"}},
		{desc: "never HSTS over plain HTTP (RFC 6797 section 7.2)",
			want: []string{"Content-Type"}},
	} {
		src := header("Content-Type", "text/plain", "Strict-Transport-Security", "max-age=1",
			"Server", "nginx/1.2", "X-Powered-By", "PHP/5", "X-Request-Id", "upstream-id")
		dst := http.Header{}
		copyResponseHeader(dst, src, tc.hsts, tc.tls)
		var got []string
		for k := range dst {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: copied %v, want %v", tc.desc, got, tc.want)
		}
	}
}
