package waf

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// inspectBody reads the request body up to bodyLimit, hands it to the
// transaction, and puts every byte back on the request so the upstream
// receives the body unchanged. A body longer than bodyLimit is refused
// with 413 in blocking mode (bytes the WAF has not seen must not pass);
// in detection mode its first bodyLimit bytes are inspected and the rest
// streams through unread. A compressed body (Content-Encoding) cannot be
// inspected: blocking mode refuses it with 415, detection mode logs it.
func (p *policy) inspectBody(tx types.Transaction, c *pipeline.Context) *pipeline.Problem {
	r := c.Request
	if !hasBody(r) {
		return nil
	}
	if encoded(r.Header) {
		// Coraza inspects bytes as they are: a compressed body would slip
		// past every body rule, so blocking mode refuses it.
		if p.blocking {
			return pipeline.NewProblem(http.StatusUnsupportedMediaType, detailEncoded, "waf: encoded body cannot be inspected")
		}
		p.log.Warn("waf cannot inspect an encoded body (detection mode, let through)", "request_id", c.RequestID, "route", c.Route)
		return nil
	}
	if p.blocking && r.ContentLength > p.bodyLimit {
		return tooLarge("waf: body larger than body_limit")
	}
	data, more, err := readBounded(r.Body, r.ContentLength, p.bodyLimit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge("waf: body larger than max_body_size")
		}
		return pipeline.NewProblem(http.StatusBadRequest, detailUnread, "waf: body read failed")
	}
	if more && p.blocking {
		return tooLarge("waf: body larger than body_limit")
	}
	seen := data
	if int64(len(seen)) > p.bodyLimit {
		seen = seen[:p.bodyLimit]
	}
	if _, _, err := tx.WriteRequestBody(seen); err != nil {
		return pipeline.NewProblem(http.StatusForbidden, detailBlocked, "waf: body buffering failed")
	}
	if more {
		// Detection mode: what was read goes first, the rest follows from
		// the client; the length the client declared stays as it was.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data)) // a chunked body now has a known length
	return nil
}

// readBounded reads at most limit bytes of body, plus one to learn whether
// more follow. size is the declared length (-1 when unknown). more reports
// that the body is longer than limit; data then holds what was read.
// hasBody reports whether r brings a body: the one test of whether the
// policy hands Coraza a body (inspectBody) and of whether pruning may
// treat the body variables as empty (process).
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

func readBounded(body io.Reader, size, limit int64) (data []byte, more bool, err error) {
	if size >= 0 {
		n := min(size, limit)
		data = make([]byte, n)
		if _, err := io.ReadFull(body, data); err != nil {
			return nil, false, err
		}
		return data, size > limit, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(body, limit+1)); err != nil {
		return nil, false, err
	}
	data = buf.Bytes()
	return data, int64(len(data)) > limit, nil
}

// encoded reports a Content-Encoding other than identity.
func encoded(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for _, part := range strings.Split(v, ",") {
			if e := strings.TrimSpace(part); e != "" && !strings.EqualFold(e, "identity") {
				return true
			}
		}
	}
	return false
}

func tooLarge(reason string) *pipeline.Problem {
	p := pipeline.NewProblem(http.StatusRequestEntityTooLarge, detailTooLarge, reason)
	// The unread rest of the body makes the connection unusable.
	p.Header = http.Header{"Connection": {"close"}}
	return p
}
