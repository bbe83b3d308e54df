package http1

// Error is a refusal of a request (or, from the response parser, of an
// upstream's answer) for what its bytes say: the status the client gets and
// a reason that is fixed text, safe to log and to show. Errors are
// preallocated, so refusing never allocates.
type Error struct {
	Status int
	Reason string
	// Framing reports that the message's framing is in doubt: the
	// connection is closed after the answer, because where the next
	// message starts is unknown (RFC 9112 section 6.3 (3) to (5) require
	// the close; section 9.6 says how a server closes).
	Framing bool
}

func (e *Error) Error() string { return "http1: " + e.Reason }

func bad(reason string) *Error      { return &Error{Status: 400, Reason: reason, Framing: true} }
func status(s int, r string) *Error { return &Error{Status: s, Reason: r, Framing: true} }

// The refusals. Reasons that net/http also gives keep its wording, so access
// lines and intrusion events read the same as before the engine.
var (
	ErrRequestLine    = bad("malformed HTTP request")
	ErrMethod         = bad("invalid method")
	ErrTarget         = bad("invalid request target")
	ErrAbsoluteForm   = bad("absolute-form request target")
	ErrAsteriskForm   = bad("asterisk-form request target without OPTIONS")
	ErrConnect        = bad("CONNECT is not served")
	ErrVersion        = bad("malformed HTTP version")
	ErrVersionUnknown = status(505, "unsupported protocol version")
	ErrBareLF         = bad("line not ended by CRLF")
	ErrObsFold        = bad("obs-fold continuation line")
	ErrHeaderLine     = bad("Bad Request: header line without a colon")
	ErrHeaderName     = bad("invalid header name")
	ErrHeaderValue    = bad("invalid header value")
	ErrHeadTooLarge   = status(431, "Request Header Fields Too Large")
	ErrTooManyHeaders = status(431, "Request Header Fields Too Large: too many header fields")
	ErrNoHost         = bad("missing required Host header")
	ErrDupHost        = bad("too many Host headers")
	ErrCLAndTE        = bad("both Content-Length and Transfer-Encoding")
	ErrDupCL          = bad("more than one Content-Length")
	ErrBadCL          = bad("invalid Content-Length")
	ErrTE10           = bad("Transfer-Encoding in an HTTP/1.0 request")
	ErrTEObfuscated   = bad("invalid Transfer-Encoding")
	ErrTEUnsupported  = status(501, "Unsupported transfer encoding")
	ErrDupTE          = status(501, "Unsupported transfer encoding: more than one Transfer-Encoding")
	ErrExpectation    = &Error{Status: 417, Reason: "unsupported Expect"}
	ErrChunk          = bad("malformed chunked encoding")
	ErrChunkExt       = bad("chunk extensions too large")
	ErrTrailer        = bad("malformed trailer section")
	ErrTrailerLarge   = status(431, "trailer section too large")
	ErrBodyTooLarge   = status(413, "request body too large")
	ErrBodyTimeout    = status(408, "request body timeout")
	ErrHeaderTimeout  = status(408, "request header timeout")
	ErrUnexpectedEOF  = bad("unexpected EOF in body")

	// Response-side verdicts (an upstream's answer): the proxy answers 502.
	ErrStatusLine   = status(502, "malformed status line")
	ErrResponseHead = status(502, "malformed response header section")
)
