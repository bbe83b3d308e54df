package http1

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/ascii"
)

// Limits a Parser applies unless set.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxHeaders     = 128
)

// head is what the framing rules decided about one request head.
type head struct {
	method, target, proto string
	minor                 int // 0 or 1: HTTP/1.0 or HTTP/1.1
	host                  string
	hasHost               bool
	contentLength         int64 // -1: none given
	chunked               bool
	close                 bool // the connection ends after this exchange
	expectContinue        bool
	upgrade               bool // Connection: upgrade plus an Upgrade field
	optionsStar           bool // "OPTIONS *": answered by the engine itself
}

// fields receives the header fields of a head in order. It lets the same
// parser fill a reused http.Header without allocating per field.
type fields struct {
	h       http.Header
	vals    []string // slab for one-value slices, reused between messages
	scratch []byte
	n, max  int
	// seen has the bit keyBit gives each name added since reset. A name
	// whose bit is clear is new, so add stores it without first looking
	// it up: one hash of the name per field instead of two, as nearly
	// every field of a message has a name of its own. A set bit (a repeat,
	// or another name with the same bit) takes the lookup.
	seen uint64
}

func (f *fields) reset(h http.Header, max int) {
	clear(h)
	f.h, f.n, f.max, f.seen = h, 0, max, 0
	f.vals = f.vals[:0]
}

// keyBit is the bit of seen for the (non-empty) map key k, from its
// length and last byte: canonical names that differ in neither are rare.
func keyBit(k string) uint64 {
	return 1 << ((uint(len(k))*7 + uint(k[len(k)-1])) & 63)
}

// add appends value to the field name (a valid token). A field seen once
// costs no allocation: its one-element slice comes from the slab, capped
// so that an append by a handler copies instead of overwriting the next.
func (f *fields) add(name, value string) *Error {
	f.n++
	if f.n > f.max {
		return ErrTooManyHeaders
	}
	key := keyCanon(name, &f.scratch)
	if bit := keyBit(key); f.seen&bit == 0 {
		f.seen |= bit
	} else if old, ok := f.h[key]; ok {
		f.h[key] = append(old, value)
		return nil
	}
	if len(f.vals) == cap(f.vals) {
		f.vals = make([]string, 0, max(32, 2*cap(f.vals)))
	}
	f.vals = append(f.vals, value)
	n := len(f.vals)
	f.h[key] = f.vals[n-1 : n : n]
	return nil
}

// nextLine returns the line at the start of s without its CRLF, and the
// rest. RFC 9112 section 2.2 lets a recipient accept a bare LF as a line
// end; this parser does not, because a front server that does not agree
// sees different lines: a bare LF (or CR) anywhere is refused. (A bare CR
// inside a line is refused where the line is read: section 2.2 says a
// recipient MUST treat it as invalid or replace it with SP, and no
// request-line or field grammar admits it.)
func nextLine(s string) (line, rest string, err *Error) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", ErrBareLF
	}
	return s[:i-1], s[i+1:], nil
}

// parseRequestHead parses a complete request head (request line, fields,
// empty line: the bytes readHead returned, as one string) under the rules
// of RFC 9112. Every field goes to f; the framing fields also decide h.
// The first rule broken is the answer.
func parseRequestHead(s string, h *head, f *fields) *Error {
	*h = head{contentLength: -1}
	line, s, err := nextLine(s)
	if err != nil {
		return err
	}
	if err := parseRequestLine(line, h); err != nil {
		return err
	}
	nCL, nTE := 0, 0
	connUpgrade, hasUpgrade, keepAlive := false, false, false
	for {
		line, s, err = nextLine(s)
		if err != nil {
			return err
		}
		if line == "" {
			break // the empty line ends the head (RFC 9112 section 2.1)
		}
		// RFC 9112 section 5.2: obs-fold is deprecated; a server MUST
		// either reject it or replace it with SP. Joining lines is where
		// parsers disagree, so it is refused. On the first field line this
		// is also section 2.2's whitespace between the start-line and the
		// first field, which a recipient MUST reject or skip.
		if line[0] == ' ' || line[0] == '\t' {
			return ErrObsFold
		}
		// RFC 9112 section 5: field-line = field-name ":" OWS field-value
		// OWS; a line without a colon is no field line.
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return ErrHeaderLine
		}
		name := line[:colon]
		// RFC 9112 section 5.1: no whitespace is allowed between the field
		// name and the colon; a server MUST reject such a message with 400.
		// The name is a token (RFC 9110 section 5.1), which excludes it.
		if !ValidToken(name) {
			return ErrHeaderName
		}
		value := line[colon+1:]
		// RFC 9110 section 5.5: a field value holds no CTL but HTAB; a
		// recipient of CR, LF or NUL in a value MUST reject the message or
		// replace them, and this parser rejects.
		if !ValidFieldValue(value) {
			return ErrHeaderValue
		}
		raw := value
		value = trimOWS(value)
		switch len(name) {
		case 4:
			if ascii.EqualFoldLower(name, "host") {
				// RFC 9112 section 3.2: a server MUST respond with 400 to a
				// request with more than one Host field (or an invalid one:
				// the gateway checks the value, normalize.CheckHost).
				if h.hasHost {
					return ErrDupHost
				}
				h.hasHost, h.host = true, value
				continue // net/http keeps Host out of Header: Request.Host holds it
			}
		case 6:
			if ascii.EqualFoldLower(name, "expect") {
				// RFC 9110 section 10.1.1: 100-continue is the only
				// expectation; a server MAY answer 417 to any other.
				if ascii.EqualFoldLower(value, "100-continue") {
					h.expectContinue = true
				} else if value != "" {
					return ErrExpectation
				}
			}
		case 7:
			if ascii.EqualFoldLower(name, "upgrade") && value != "" {
				hasUpgrade = true
			}
		case 10:
			// RFC 9112 section 9.6: the "close" option ends the connection
			// after this exchange; section 9.3: HTTP/1.0 persists only with
			// "keep-alive". RFC 9110 section 7.8: an upgrade needs both
			// the "upgrade" option and an Upgrade field.
			if ascii.EqualFoldLower(name, "connection") {
				if hasToken(value, "close") {
					h.close = true
				}
				if hasToken(value, "keep-alive") {
					keepAlive = true
				}
				if hasToken(value, "upgrade") {
					connUpgrade = true
				}
			}
		case 14:
			if ascii.EqualFoldLower(name, "content-length") {
				// RFC 9112 section 6.3 (3): both framings present "ought to
				// be handled as an error" (smuggling); section 6.1 lets a
				// server reject it and requires the connection to close.
				if nTE > 0 {
					return ErrCLAndTE
				}
				// RFC 9112 section 6.3 (5): several or invalid lengths are
				// an unrecoverable error; even identical duplicates and
				// lists are refused rather than merged.
				if nCL++; nCL > 1 {
					return ErrDupCL
				}
				n, ok := parseContentLength(value) // RFC 9110 section 8.6
				if !ok {
					return ErrBadCL
				}
				h.contentLength = n
			}
		case 17:
			if ascii.EqualFoldLower(name, "transfer-encoding") {
				if nCL > 0 {
					return ErrCLAndTE // RFC 9112 sections 6.3 (3) and 6.1, as above
				}
				// RFC 9112 section 6.1: an HTTP/1.0 message with
				// Transfer-Encoding MUST be treated as having faulty framing.
				if h.minor == 0 {
					return ErrTE10
				}
				// Two field lines are one list (RFC 9110 section 5.3), so a
				// second Transfer-Encoding names a second coding, and only
				// a lone "chunked" is understood (RFC 9112 section 6.1: 501).
				if nTE++; nTE > 1 {
					return ErrDupTE
				}
				switch checkTE(raw) {
				case teObfuscated: // not an RFC rule: see checkTE
					return ErrTEObfuscated
				case teUnsupported:
					// RFC 9112 section 6.1: a server that receives a transfer
					// coding it does not understand SHOULD answer 501.
					return ErrTEUnsupported
				}
				h.chunked = true
				continue // as net/http: the coding is in Request.TransferEncoding, not Header
			}
		}
		if err := f.add(name, value); err != nil {
			return err
		}
	}
	// RFC 9112 section 3.2: a server MUST respond with 400 to an HTTP/1.1
	// request that lacks a Host field.
	if h.minor == 1 && !h.hasHost {
		return ErrNoHost
	}
	if h.minor == 0 && !keepAlive {
		h.close = true // RFC 9112 section 9.3: HTTP/1.0 closes unless kept alive
	}
	h.upgrade = connUpgrade && hasUpgrade
	return nil
}

// parseRequestLine parses method SP request-target SP HTTP-version
// (RFC 9112 section 3): exactly one SP between the parts, no other
// whitespace.
func parseRequestLine(line string, h *head) *Error {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return ErrRequestLine
	}
	method, rest := line[:sp1], line[sp1+1:]
	sp2 := strings.IndexByte(rest, ' ')
	if sp2 < 0 {
		return ErrRequestLine
	}
	target, proto := rest[:sp2], rest[sp2+1:]
	if !ValidToken(method) { // RFC 9112 section 3.1, RFC 9110 section 9.1: method = token
		return ErrMethod
	}
	switch proto {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
	default:
		// RFC 9112 section 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT.
		// A well-formed version this server does not speak is 505 (RFC
		// 9110 section 15.6.6); anything else is a malformed line.
		if len(proto) == 8 && proto[:5] == "HTTP/" && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
			return ErrVersionUnknown
		}
		return ErrVersion
	}
	h.proto = proto
	if target == "" { // RFC 9112 section 3.2: every target form has at least one byte
		return ErrRequestLine
	}
	// RFC 9112 section 3.2: no whitespace in the request-target, and every
	// form is made of URI characters (RFC 3986 section 2), visible ASCII.
	for i := 0; i < len(target); i++ {
		if !isTargetByte[target[i]] {
			return ErrTarget
		}
	}
	// RFC 9112 section 3.2: the four forms of request-target. A gateway
	// serves origin-form (section 3.2.1) only. Absolute-form (section
	// 3.2.2) is refused on purpose although that section asks servers to
	// accept it: it is for forward proxies, and its authority could
	// disagree with Host. Authority-form (section 3.2.3) is CONNECT, a
	// tunnel this gateway does not open; asterisk-form (section 3.2.4)
	// exists only for a server-wide OPTIONS.
	switch {
	case method == http.MethodConnect:
		return ErrConnect
	case target[0] == '/':
	case target == "*":
		if method != http.MethodOptions {
			return ErrAsteriskForm
		}
		h.optionsStar = true
	default:
		return ErrAbsoluteForm
	}
	h.method, h.target = internMethod(method), target
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func internMethod(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	}
	return m
}

// parseContentLength accepts 1*DIGIT (RFC 9110 section 8.6) and nothing
// else: no sign, no list, no spaces inside; at most 18 digits so the value
// fits an int64.
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

const (
	teChunked = iota
	teObfuscated
	teUnsupported
)

// checkTE classifies a raw Transfer-Encoding value (after the colon).
// Only "chunked" is understood, in any case (RFC 9112 section 7: coding
// names are case-insensitive), with spaces around it. An HTAB next to it is
// OWS to the grammar (RFC 9110 section 5.6.3) but an obfuscation that some
// parsers strip and others do not, so it is refused as malformed framing;
// any other coding or a list is unsupported (RFC 9112 section 6.1: 501).
func checkTE(raw string) int {
	v := raw
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	for len(v) > 0 && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	if ascii.EqualFoldLower(v, "chunked") {
		return teChunked
	}
	// An empty value (often the first line of an obs-fold) names no coding
	// at all: malformed, not merely unsupported.
	if trimOWS(raw) == "" {
		return teObfuscated
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\t' {
			return teObfuscated
		}
	}
	return teUnsupported
}

// setURL fills u from an origin-form or asterisk-form target. A target of
// plain path bytes (and any query) is set without allocating; anything
// else goes through url.ParseRequestURI, so the result is what net/http
// would give, and a target it cannot parse as origin-form (RFC 9112
// section 3.2.1: absolute-path [ "?" query ]) is refused.
func setURL(u *url.URL, target string) *Error {
	path, query, hasQuery := target, "", false
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query, hasQuery = target[:i], target[i+1:], true
	}
	plain := true
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			plain = false
			break
		}
	}
	if plain && path != "" && path[0] == '/' {
		*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
		return nil
	}
	pu, err := url.ParseRequestURI(target)
	if err != nil {
		return ErrTarget
	}
	*u = *pu
	return nil
}

// bodyOf says how the body of a request with head h is framed (RFC 9112
// section 6.3): chunked (4), Content-Length bytes (6), or none (7: a
// request without either has no body).
func bodyOf(h *head) (bodyMode, int64) {
	switch {
	case h.chunked:
		return bodyChunked, 0
	case h.contentLength > 0:
		return bodyLength, h.contentLength
	}
	return bodyNone, 0
}

// ErrTrailerKey refuses a Trailer field (RFC 9110 section 6.6.2)
// announcing a framing field: RFC 9110 section 6.5.1 says framing fields
// cannot be processed from a trailer, and a sender MUST NOT generate a
// trailer field whose definition does not allow it.
var ErrTrailerKey = bad("bad trailer key")

// takeTrailer moves the Trailer field of a chunked message out of its
// header fields into a trailer map of the announced names, whose values
// the body fills when it ends (as net/http does, so the upstream client
// can forward them). Without chunked framing the field stays where it is.
func takeTrailer(chunked bool, hdr http.Header) (http.Header, *Error) {
	vv, ok := hdr["Trailer"]
	if !ok || !chunked {
		return nil, nil
	}
	delete(hdr, "Trailer")
	t := make(http.Header)
	for _, v := range vv {
		for v != "" {
			var item string
			if i := strings.IndexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, ""
			}
			item = trimOWS(item)
			if item == "" {
				continue
			}
			key := http.CanonicalHeaderKey(item)
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, ErrTrailerKey
			}
			t[key] = nil
		}
	}
	if len(t) == 0 {
		return nil, nil
	}
	return t, nil
}
