package normalize

import "bytes"

// FramingError names a framing problem on an HTTP/1.x connection. Reason
// is fixed text, safe to log and to show to clients.
type FramingError struct{ Reason string }

func (e *FramingError) Error() string { return "normalize: request framing: " + e.Reason }

// The verdicts. Preallocated so that a verdict never allocates.
var (
	errCLAndTE       = &FramingError{"both Content-Length and Transfer-Encoding"}
	errDupCL         = &FramingError{"more than one Content-Length"}
	errBadCL         = &FramingError{"invalid Content-Length"}
	errDupTE         = &FramingError{"more than one Transfer-Encoding"}
	errBadTE         = &FramingError{"Transfer-Encoding other than chunked"}
	errTE10          = &FramingError{"Transfer-Encoding in an HTTP/1.0 request"}
	errObsFold       = &FramingError{"obs-fold continuation line"}
	errHeaderName    = &FramingError{"whitespace or invalid byte in header name"}
	errHeaderLine    = &FramingError{"header line without colon"}
	errDupHost       = &FramingError{"more than one Host"}
	errRequestLine   = &FramingError{"malformed request line"}
	errVersion       = &FramingError{"unsupported HTTP version"}
	errLineTooLong   = &FramingError{"head line too long"}
	errChunk         = &FramingError{"malformed chunked encoding"}
	errTooManyQueued = &FramingError{"too many pipelined requests"}

	// ErrPoisoned is the verdict for every request after the one whose
	// framing was bad: where that one ended is uncertain, so nothing after
	// it on the connection is trusted.
	ErrPoisoned = &FramingError{"an earlier request on this connection had bad framing"}
	// ErrFramingUnknown is returned when no head was seen for the request:
	// the connection is a tunnel (after Upgrade, CONNECT or an HTTP/2
	// preface), or the handler called Next more often than requests came.
	ErrFramingUnknown = &FramingError{"framing unknown"}
	// ErrDesync is returned by NextFor when the head the parser saw is not
	// the request the server handed to the handler.
	ErrDesync = &FramingError{"request does not match the parsed head"}
)

const (
	maxHeadLine  = 64 << 10 // longest request or header line tracked
	maxChunkLine = 4096     // net/http's own limit for a chunk-size line
	maxQueued    = 1024     // verdicts waiting for their handler
)

type state uint8

const (
	stRequestLine state = iota
	stHeader
	stBody       // Content-Length bytes
	stChunkSize  // chunk-size [; ext] CRLF
	stChunkData  // chunk bytes
	stChunkCRLF  // '\r' after chunk bytes
	stChunkCRLF2 // '\n' after chunk bytes
	stTrailer    // trailer lines up to an empty line
	stStopped    // poisoned or tunnel: bytes are no longer parsed
)

type verdict struct {
	err  error
	line uint64 // FNV-1a of "METHOD SP target", to check against the request
}

// parser follows HTTP/1.x message framing as net/http does and records a
// verdict per request head. It is not safe for concurrent use.
type parser struct {
	st   state
	line []byte // a line split across reads
	rem  uint64 // bytes left in a Content-Length body or a chunk

	// The head being parsed.
	lineSum              uint64
	http10, skipVerdict  bool
	tunnel               bool
	nCL, nTE, nHost      int
	cl                   uint64
	connUpgrade, upgrade bool

	q      []verdict
	qh     int  // next verdict to hand out
	cur    int  // index in q of the current message's verdict, or -1
	pushed bool // the current message's verdict has been decided
	broken bool // a framing error was seen: every later verdict is ErrPoisoned

	onHead func(sum uint64, err error) // test hook: every head, in order
}

func (p *parser) pending() int { return len(p.q) - p.qh }

// inHead reports whether part of a request head has arrived and the rest
// has not: the request line is started, or header lines are being read.
func (p *parser) inHead() bool {
	return p.st == stHeader || p.st == stRequestLine && len(p.line) > 0
}

// push queues the verdict for the current head.
func (p *parser) push(err error) {
	p.pushed = true
	if p.skipVerdict {
		return // a request the server answers itself: no handler will ask
	}
	if p.pending() >= maxQueued {
		p.fail(errTooManyQueued)
		return
	}
	// Drop verdicts already handed out, so that a client that keeps
	// requests pipelined (the queue never empties) cannot grow it.
	if p.qh > 0 && (p.qh == len(p.q) || p.qh >= 64) {
		n := copy(p.q, p.q[p.qh:])
		p.q, p.qh = p.q[:n], 0
	}
	p.q = append(p.q, verdict{err: err, line: p.lineSum})
	p.cur = len(p.q) - 1
}

// pop returns the next verdict, in request order.
func (p *parser) pop(sum uint64, check bool) error {
	if p.pending() == 0 {
		if p.broken {
			return ErrPoisoned
		}
		return ErrFramingUnknown
	}
	v := p.q[p.qh]
	p.qh++
	if check && v.line != sum {
		// The server and the parser disagree about which request this is:
		// nothing queued can be matched to a request any more.
		p.broken, p.st, p.line = true, stStopped, nil
		p.q, p.qh, p.cur = p.q[:0], 0, -1
		return ErrDesync
	}
	return v.err
}

// fail records err as the current message's verdict and stops parsing.
func (p *parser) fail(err error) {
	if p.broken {
		return
	}
	p.broken = true
	p.st = stStopped
	p.line = nil
	if !p.pushed {
		if p.onHead != nil {
			p.onHead(p.lineSum, err)
		}
		if !p.skipVerdict {
			p.q = append(p.q, verdict{err: err, line: p.lineSum})
		}
		p.pushed = true
	} else if p.cur >= p.qh && p.cur < len(p.q) {
		// The body of the current message went wrong; if its handler has
		// not asked yet, it gets the error.
		p.q[p.cur].err = err
	}
}

// feed parses b, which the server just read.
func (p *parser) feed(b []byte) {
	for len(b) > 0 {
		switch p.st {
		case stStopped:
			return
		case stBody, stChunkData:
			n := uint64(len(b))
			if n > p.rem {
				n = p.rem
			}
			b = b[n:]
			p.rem -= n
			if p.rem == 0 {
				if p.st == stBody {
					p.done()
				} else {
					p.st = stChunkCRLF
				}
			}
		case stChunkCRLF, stChunkCRLF2:
			want := byte('\r')
			if p.st == stChunkCRLF2 {
				want = '\n'
			}
			if b[0] != want {
				p.fail(errChunk)
				return
			}
			b = b[1:]
			if p.st == stChunkCRLF {
				p.st = stChunkCRLF2
			} else {
				p.st = stChunkSize
			}
		default:
			b = p.feedLine(b)
		}
	}
}

// feedLine consumes one line (or the part of it in b) and returns the rest.
func (p *parser) feedLine(b []byte) []byte {
	limit := maxHeadLine
	if p.st == stChunkSize {
		limit = maxChunkLine
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(p.line)+len(b) > limit {
			p.fail(lineErr(p.st))
			return nil
		}
		p.line = append(p.line, b...)
		return nil
	}
	l := b[:i]
	if len(p.line) > 0 {
		if len(p.line)+i > limit {
			p.fail(lineErr(p.st))
			return nil
		}
		p.line = append(p.line, l...)
		l = p.line
	} else if i > limit {
		p.fail(lineErr(p.st))
		return nil
	}
	p.handleLine(l)
	if cap(p.line) > 1024 {
		p.line = nil // do not keep a big buffer for one long line
	} else {
		p.line = p.line[:0]
	}
	return b[i+1:]
}

func lineErr(s state) error {
	if s == stChunkSize {
		return errChunk
	}
	return errLineTooLong
}

func (p *parser) handleLine(l []byte) {
	switch p.st {
	case stRequestLine:
		p.requestLine(trimCR(l))
	case stHeader:
		p.headerLine(trimCR(l))
	case stChunkSize:
		p.chunkSizeLine(l)
	case stTrailer:
		p.trailerLine(trimCR(l))
	}
}

// trimCR drops the CR of a CRLF; net/http also accepts a bare LF.
func trimCR(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		return l[:n-1]
	}
	return l
}

func (p *parser) requestLine(l []byte) {
	p.lineSum = 0
	p.http10, p.skipVerdict, p.tunnel, p.pushed, p.cur = false, false, false, false, -1
	p.nCL, p.nTE, p.nHost, p.cl = 0, 0, 0, 0
	p.connUpgrade, p.upgrade = false, false

	// Like net/http: METHOD SP target SP version, split at the first two
	// spaces.
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		p.fail(errRequestLine)
		return
	}
	sp2 := bytes.IndexByte(l[sp1+1:], ' ')
	if sp2 < 0 {
		p.fail(errRequestLine)
		return
	}
	sp2 += sp1 + 1
	p.lineSum = fnv1a(l[:sp2])
	method, target, proto := l[:sp1], l[sp1+1:sp2], l[sp2+1:]

	if string(method) == "PRI" && string(target) == "*" && string(proto) == "HTTP/2.0" {
		// HTTP/2 prior knowledge: not HTTP/1 framing from here on.
		p.skipVerdict = true
		p.pushed = true
		p.st = stStopped
		return
	}
	switch {
	case string(proto) == "HTTP/1.0":
		p.http10 = true
	case len(proto) == 8 && string(proto[:7]) == "HTTP/1." && proto[7] >= '1' && proto[7] <= '9':
	default:
		p.fail(errVersion)
		return
	}
	// net/http answers "OPTIONS *" itself (unless DisableGeneralOptionsHandler
	// is set), so no handler will ask for its verdict.
	p.skipVerdict = string(method) == "OPTIONS" && string(target) == "*"
	p.tunnel = string(method) == "CONNECT"
	p.st = stHeader
}

func (p *parser) headerLine(l []byte) {
	if len(l) == 0 {
		p.endHead()
		return
	}
	if l[0] == ' ' || l[0] == '\t' {
		p.fail(errObsFold)
		return
	}
	name, value, err := splitField(l)
	if err != nil {
		p.fail(err)
		return
	}
	switch {
	case equalFold(name, "content-length"):
		p.nCL++
		switch {
		case p.nCL > 1:
			p.fail(errDupCL)
		case p.nTE > 0:
			p.fail(errCLAndTE)
		default:
			n, ok := parseCL(value)
			if !ok {
				p.fail(errBadCL)
			}
			p.cl = n
		}
	case equalFold(name, "transfer-encoding"):
		p.nTE++
		switch {
		case p.nTE > 1:
			p.fail(errDupTE)
		case p.nCL > 0:
			p.fail(errCLAndTE)
		case p.http10:
			p.fail(errTE10)
		case !isChunked(value):
			p.fail(errBadTE)
		}
	case equalFold(name, "host"):
		p.nHost++
		if p.nHost > 1 {
			p.fail(errDupHost)
		}
	case equalFold(name, "connection"):
		if hasToken(value, "upgrade") {
			p.connUpgrade = true
		}
	case equalFold(name, "upgrade"):
		p.upgrade = p.upgrade || len(trimOWS(value)) > 0
	}
}

func (p *parser) endHead() {
	if p.onHead != nil {
		p.onHead(p.lineSum, nil)
	}
	p.push(nil)
	if p.st == stStopped {
		return
	}
	switch {
	case p.tunnel || (p.connUpgrade && p.upgrade):
		// The bytes that follow belong to another protocol.
		p.st = stStopped
	case p.nTE > 0:
		p.st = stChunkSize
	case p.cl > 0:
		p.st, p.rem = stBody, p.cl
	default:
		p.done()
	}
}

// done ends the current message: what comes next is a new request.
func (p *parser) done() {
	p.st = stRequestLine
	p.pushed, p.skipVerdict, p.cur = false, false, -1
}

// chunkSizeLine parses "hex-size [; extensions] CRLF". net/http insists on
// CRLF here; a bare LF or a CR inside the line is an error.
func (p *parser) chunkSizeLine(l []byte) {
	n := len(l)
	if n == 0 || l[n-1] != '\r' {
		p.fail(errChunk)
		return
	}
	l = l[:n-1]
	if bytes.IndexByte(l, '\r') >= 0 {
		p.fail(errChunk)
		return
	}
	var size uint64
	digits := 0
	for _, c := range l {
		v, ok := unhex(c)
		if !ok {
			break
		}
		if digits == 16 {
			p.fail(errChunk)
			return
		}
		size = size<<4 | uint64(v)
		digits++
	}
	// Only extensions may follow the size; no whitespace, no sign.
	if digits == 0 || (digits < len(l) && l[digits] != ';') {
		p.fail(errChunk)
		return
	}
	if size == 0 {
		p.st = stTrailer
		return
	}
	p.st, p.rem = stChunkData, size
}

func (p *parser) trailerLine(l []byte) {
	if len(l) == 0 {
		p.done()
		return
	}
	if l[0] == ' ' || l[0] == '\t' {
		p.fail(errObsFold)
		return
	}
	if _, _, err := splitField(l); err != nil {
		p.fail(err)
	}
}

// splitField splits "name: value", refusing a name that is not a token
// (which includes whitespace before the colon).
func splitField(l []byte) (name, value []byte, err error) {
	colon := bytes.IndexByte(l, ':')
	if colon < 0 {
		return nil, nil, errHeaderLine
	}
	name = l[:colon]
	if len(name) == 0 {
		return nil, nil, errHeaderName
	}
	for _, c := range name {
		if !isTokenChar(c) {
			return nil, nil, errHeaderName
		}
	}
	return name, l[colon+1:], nil
}

// isChunked accepts exactly "chunked" in any case, with spaces around it.
// A tab or any other whitespace is an obfuscation some parsers strip and
// others do not, so it is refused.
func isChunked(v []byte) bool {
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	for len(v) > 0 && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	return equalFold(v, "chunked")
}

// parseCL accepts 1*DIGIT with optional surrounding whitespace, as net/http
// does, and nothing else: no sign, no list.
func parseCL(v []byte) (uint64, bool) {
	v = trimOWS(v)
	if len(v) == 0 || len(v) > 18 { // 18 digits stay below 1<<63
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// hasToken reports whether the comma-separated list v contains tok (lower
// case), ignoring case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if equalFold(trimOWS(item), tok) {
			return true
		}
	}
	return false
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isTokenChar reports RFC 9110 tchar.
func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

const fnvOffset = 14695981039346656037

func fnvAdd(h uint64, c byte) uint64 { return (h ^ uint64(c)) * 1099511628211 }

func fnv1a(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h = fnvAdd(h, c)
	}
	return h
}

func fnv1aString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = fnvAdd(h, s[i])
	}
	return h
}
