package http1

import (
	"errors"
	"io"
	"net/http"

	"github.com/portcullis/portcullis/internal/ascii"
)

// Bounds of the chunked decoder (RFC 9112 section 7.1). net/http allows a
// 4 KiB chunk-size line; extensions carry nothing a gateway uses, so their
// total per message is bounded too (RFC 9112 section 7.1.1: a server ought
// to limit them and answer 4xx beyond the limit): a flood of extensions is
// work for every parser behind the gateway and data for none. The trailer
// section (RFC 9112 section 7.1.2) is bounded like the head.
const (
	maxChunkLine    = 4096
	maxChunkExtSum  = 16 << 10
	maxTrailerBytes = 16 << 10
	maxTrailers     = 64
)

type bodyMode uint8

const (
	bodyNone    bodyMode = iota
	bodyLength           // Content-Length bytes
	bodyChunked          // chunked transfer coding
	bodyEOF              // until the connection ends (responses only)
)

// body reads one message body from a connection's reader: exactly
// Content-Length bytes, or the chunked coding decoded strictly, or (for
// responses without framing) everything until EOF. It is reused between
// messages of a connection.
type body struct {
	rd     *reader
	mode   bodyMode
	remain int64 // bytes left in the body (length) or in the current chunk
	limit  int64 // most body bytes accepted; 0 = no limit
	total  int64
	inData bool // chunked: inside a chunk's data
	extSum int
	eof    bool
	err    error // sticky
	closed bool

	// sendContinue, when set, runs before the first read: the 100
	// (Continue) interim response to "Expect: 100-continue".
	sendContinue func() error
	// trailer receives the trailer fields of a chunked body when not nil
	// (never the message's header fields).
	trailer http.Header
	tf      fields
	// onReadErr lets the server map a timeout to its own error.
	mapErr func(error) error
	// onEOF, when set, runs once when Read reaches the end of a body that
	// ended cleanly (the server starts watching the client then).
	onEOF func()
}

func (b *body) reset(rd *reader, mode bodyMode, n int64) {
	*b = body{rd: rd, mode: mode, remain: n, tf: b.tf, mapErr: b.mapErr}
	if mode == bodyNone || (mode == bodyLength && n == 0) {
		b.eof = true
	}
}

// ErrBodyReadAfterClose is returned by Read after the handler closed the body.
var ErrBodyReadAfterClose = http.ErrBodyReadAfterClose

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.sendContinue != nil {
		f := b.sendContinue
		b.sendContinue = nil
		if err := f(); err != nil {
			b.err = err
			return 0, err
		}
	}
	n, err := b.read(p)
	if n > 0 {
		b.total += int64(n)
		if b.limit > 0 && b.total > b.limit {
			b.err = ErrBodyTooLarge
			return 0, b.err
		}
	}
	if err != nil && err != io.EOF {
		if b.mapErr != nil {
			err = b.mapErr(err)
		}
		b.err = err
	}
	if b.eof && b.onEOF != nil && b.err == nil {
		f := b.onEOF
		b.onEOF = nil
		f()
	}
	return n, err
}

func (b *body) read(p []byte) (int, error) {
	switch b.mode {
	case bodyLength:
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err := b.rd.read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err == io.EOF {
			// RFC 9112 section 6.3 (6): fewer bytes than Content-Length
			// is an incomplete message, and the connection closes.
			err = ErrUnexpectedEOF
		}
		return n, err
	case bodyEOF:
		n, err := b.rd.read(p)
		if err == io.EOF {
			b.eof = true
		}
		return n, err
	case bodyChunked:
		return b.readChunked(p)
	}
	b.eof = true
	return 0, io.EOF
}

func (b *body) readChunked(p []byte) (int, error) {
	for !b.inData {
		if err := b.chunkHeader(); err != nil {
			return 0, err
		}
		if b.eof {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.rd.read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		// RFC 9112 section 7.1: chunk-data is followed by CRLF, exactly.
		if err := b.expectCRLF(); err != nil {
			return n, err
		}
		b.inData = false
		return n, nil
	}
	if err == io.EOF {
		err = ErrUnexpectedEOF
	}
	return n, err
}

func (b *body) expectCRLF() error {
	c1, err := b.rd.readByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	c2, err := b.rd.readByte()
	if err != nil {
		return eofIsUnexpected(err)
	}
	if c1 != '\r' || c2 != '\n' {
		return ErrChunk
	}
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return ErrUnexpectedEOF
	}
	return err
}

// chunkHeader reads a chunk-size line, and after the last chunk the
// trailer section.
func (b *body) chunkHeader() error {
	line, err := b.rd.readLine(maxChunkLine, ErrChunk)
	if err != nil {
		return chunkErr(err)
	}
	size, ext, err := parseChunkSize(line)
	if err != nil {
		return err
	}
	if b.extSum += ext; b.extSum > maxChunkExtSum { // RFC 9112 section 7.1.1, see maxChunkExtSum
		return ErrChunkExt
	}
	if size == 0 { // last-chunk (RFC 9112 section 7.1): the trailer section follows
		if err := b.readTrailers(); err != nil {
			return err
		}
		b.eof = true
		return nil
	}
	b.remain, b.inData = size, true
	return nil
}

// chunkErr maps a line error inside a chunked body to the body's verdict:
// a chunk-size line ends in CRLF (RFC 9112 section 7.1), so a bare LF
// there is a malformed chunk.
func chunkErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		if e == ErrBareLF {
			return ErrChunk
		}
		return e
	}
	return eofIsUnexpected(err)
}

// parseChunkSize parses chunk-size [ chunk-ext ]: chunk-size = 1*HEXDIG
// (RFC 9112 section 7.1), so no sign, no "0x"; at most 15 digits so the
// size fits an int64 (section 7.1: a recipient MUST guard against integer
// overflow); no whitespace before the first extension (section 7.1.1,
// below). It returns the number of extension bytes.
func parseChunkSize(line []byte) (size int64, ext int, err error) {
	i := 0
	for ; i < len(line); i++ {
		v, ok := ascii.Unhex(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, 0, ErrChunk
		}
		size = size<<4 | int64(v)
	}
	if i == 0 {
		return 0, 0, ErrChunk
	}
	rest := line[i:]
	if len(rest) == 0 {
		return size, 0, nil
	}
	// The grammar allows BWS before ";" (RFC 9112 section 7.1.1), but
	// net/http and others refuse it, so a size followed by whitespace is
	// read two ways: refused, a deliberate departure from the grammar.
	if rest[0] != ';' || !validChunkExt(rest) {
		return 0, 0, ErrChunk
	}
	return size, len(rest), nil
}

// validChunkExt checks chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS
// ext-val ] ), ext-val = token / quoted-string (RFC 9112 section 7.1.1).
func validChunkExt(s []byte) bool {
	i := 0
	bws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() bool {
		j := i
		for i < len(s) && isTchar[s[i]] {
			i++
		}
		return i > j
	}
	for i < len(s) {
		bws()
		if i == len(s) || s[i] != ';' {
			return false
		}
		i++
		bws()
		if !token() {
			return false
		}
		bws()
		if i < len(s) && s[i] == '=' {
			i++
			bws()
			if i < len(s) && s[i] == '"' {
				if !quotedString(s, &i) {
					return false
				}
			} else if !token() {
				return false
			}
			bws()
		}
	}
	return true
}

// quotedString consumes a quoted-string (RFC 9110 section 5.6.4) at s[*i].
func quotedString(s []byte, i *int) bool {
	j := *i + 1
	for j < len(s) {
		switch c := s[j]; {
		case c == '"':
			*i = j + 1
			return true
		case c == '\\':
			if j+1 >= len(s) || !isValueByte[s[j+1]] {
				return false
			}
			j += 2
		case isValueByte[c]:
			j++
		default:
			return false
		}
	}
	return false
}

// readTrailers reads the trailer section (RFC 9112 section 7.1.2): field
// lines up to an empty line, bounded in count and bytes, held apart from
// the header fields (RFC 9110 section 6.5.1: a recipient MUST NOT merge a
// trailer into the header section unless the field's definition allows it,
// and a gateway cannot know every field's definition).
func (b *body) readTrailers() error {
	if b.trailer != nil {
		// The announced names are in the map with no value; what arrives
		// replaces them (net/http merges every received trailer the same way).
		b.tf.h, b.tf.n, b.tf.max, b.tf.seen = b.trailer, 0, maxTrailers, 0
	}
	size, n := 0, 0
	for {
		line, err := b.rd.readLine(maxTrailerBytes, ErrTrailerLarge)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e == ErrBareLF {
				return ErrTrailer
			}
			return chunkErr(err)
		}
		if len(line) == 0 {
			return nil
		}
		size += len(line) + 2
		if n++; size > maxTrailerBytes || n > maxTrailers {
			return ErrTrailerLarge
		}
		if line[0] == ' ' || line[0] == '\t' {
			return ErrTrailer // obs-fold (RFC 9112 section 5.2), as in the header section
		}
		name, value, ok := splitFieldBytes(line)
		if !ok {
			return ErrTrailer
		}
		if b.trailer != nil {
			key := http.CanonicalHeaderKey(string(name))
			switch key {
			case "Transfer-Encoding", "Content-Length", "Trailer", "Host":
				// RFC 9110 section 6.5.1: framing and routing fields
				// cannot be processed from a trailer; they are dropped.
				continue
			}
			b.trailer[key] = append(b.trailer[key], string(value))
		}
	}
}

// splitFieldBytes splits and checks a field line as the head parser does
// (RFC 9112 section 7.1.2: trailer-section = *( field-line CRLF )): a
// colon after a non-empty token name (RFC 9110 section 5.1), a value of
// field-value bytes (section 5.5), OWS trimmed (section 5.6.3).
func splitFieldBytes(line []byte) (name, value []byte, ok bool) {
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 {
		return nil, nil, false
	}
	name = line[:colon]
	for _, c := range name {
		if !isTchar[c] {
			return nil, nil, false
		}
	}
	value = line[colon+1:]
	for _, c := range value {
		if !isValueByte[c] {
			return nil, nil, false
		}
	}
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	return name, value, true
}

func (b *body) Close() error {
	b.closed = true
	return nil
}

// drain reads and discards what is left of the body, at most max bytes,
// and reports whether the body ended cleanly (so the connection can carry
// another request).
func (b *body) drain(max int64, buf []byte) bool {
	if b.eof && b.err == nil {
		return true
	}
	if b.err != nil || b.mode == bodyEOF {
		return false
	}
	if b.mode == bodyLength && b.remain > max {
		return false
	}
	b.closed = false
	b.limit = 0
	var n int64
	for n <= max {
		m, err := b.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// checkBuffered runs the chunked decoder over the body bytes already read
// with the head, without consuming them: a body whose first bytes are
// malformed is refused before any handler (and so any upstream) sees the
// request. Bytes that have not arrived yet are checked as they are read.
func checkBuffered(rd *reader, scratch []byte) *Error {
	n := rd.buffered()
	if n == 0 {
		return nil
	}
	view := reader{buf: rd.buf[rd.r:rd.w:rd.w], w: n} // no source: ends where the buffer does
	var b body
	b.reset(&view, bodyChunked, 0)
	for {
		_, err := b.Read(scratch)
		var e *Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e != ErrUnexpectedEOF:
			return e
		default:
			return nil // the end of the body, or of what has arrived so far
		}
	}
}
