package validate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/internal/ijson"
	"github.com/portcullis/portcullis/internal/pipeline"
)

const errBodyInvalid = "The request body is not valid."

// checkBody buffers the body (bounded), checks it, and puts the buffered
// bytes back so the upstream receives exactly what was checked.
func (p *validatePolicy) checkBody(r *http.Request) *pipeline.Problem {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		// A compressed body cannot be checked; refusing it fails closed.
		return pipeline.NewProblem(http.StatusUnsupportedMediaType, "The request body's encoding is not accepted.", "validate: content-encoding on a checked body")
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, over, err := readBounded(r.Body, r.ContentLength, p.inspectLimit)
		if over {
			return tooLarge()
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge()
			}
			return pipeline.NewProblem(http.StatusBadRequest, "The request body could not be read.", "validate: body read error")
		}
		body = b
		_ = r.Body.Close()
	}
	if len(body) == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	// RFC 7493: the body is checked and forwarded as one I-JSON text, so
	// the schema below and the upstream's parser read the same values
	// (no duplicate names one keeps first and the other last, no lone
	// surrogates, no integers a double rounds). internal/ijson has the rules.
	if err := ijson.Check(body); err != nil {
		return pipeline.NewProblem(http.StatusBadRequest, bodyDetail(err), "validate: "+ijson.LogReason(err))
	}
	if p.schema != nil {
		if ptr, ok := p.schema.validate(body); !ok {
			return pipeline.NewProblem(http.StatusBadRequest, pointerDetail(ptr), "validate: schema violation at "+strconv.Quote(ptr))
		}
	}
	return nil
}

// readBounded reads r up to limit bytes; over reports that there was
// more. cl (the Content-Length, -1 when unknown) sizes the buffer.
func readBounded(r io.Reader, cl, limit int64) (b []byte, over bool, err error) {
	if cl > limit {
		return nil, true, nil
	}
	size := cl + 1 // one more byte to see the end (or an excess)
	if cl < 0 {
		size = min(limit+1, 16<<10)
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, true, nil
		}
		if rerr == io.EOF {
			return buf, false, nil
		}
		if rerr != nil {
			return nil, false, rerr
		}
	}
}

// bodyDetail is the client-facing text: generic for a syntax error, and
// naming the rule for an ambiguous text (the client may not know its
// serializer emits duplicates), never quoting the body.
func bodyDetail(err error) string {
	if ijson.Ambiguous(err) {
		return errBodyInvalid + " " + ijson.Detail(err)
	}
	return errBodyInvalid
}
