package http1

import (
	"bytes"
	"io"
	"sync"
)

// The read buffer every connection starts with, and the pool that lends
// it. A head larger than this grows the buffer up to the head limit; the
// grown buffer is dropped (not pooled) once the connection is done with it.
const readBufSize = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// reader is a connection's read side: one buffer, a window of unread
// bytes, and the parsing that must see whole lines in place (heads, chunk
// sizes, trailers), so nothing is copied out of the buffer to be parsed.
type reader struct {
	src    io.Reader
	buf    []byte
	pbuf   *[]byte // the pooled buffer, while buf is it
	r, w   int
	err    error  // sticky: the first read error
	onRead func() // called before a blocking read (deadline upkeep); may be nil
}

func (b *reader) init(src io.Reader) {
	b.src, b.r, b.w, b.err = src, 0, 0, nil
	if b.buf == nil {
		b.pbuf = readBufPool.Get().(*[]byte)
		b.buf = *b.pbuf
	}
}

// release returns the buffer to the pool.
func (b *reader) release() {
	if b.pbuf != nil {
		readBufPool.Put(b.pbuf)
	}
	b.buf, b.pbuf, b.src = nil, nil, nil
	b.r, b.w = 0, 0
}

func (b *reader) buffered() int { return b.w - b.r }

// park gives the buffer back to the pool while nothing is buffered (an
// idle connection); unpark takes one again before the next read. A buffer
// grown for a large head is dropped rather than pooled.
func (b *reader) park() {
	if b.r != b.w {
		return
	}
	if b.pbuf != nil {
		readBufPool.Put(b.pbuf)
	}
	b.buf, b.pbuf = nil, nil
	b.r, b.w = 0, 0
}

func (b *reader) unpark() {
	if b.buf == nil {
		b.pbuf = readBufPool.Get().(*[]byte)
		b.buf = *b.pbuf
	}
}

// fill reads once into the free space after compacting or growing the
// buffer so that at least one byte fits, but never beyond limit bytes of
// unread data. It returns the read error (sticky).
func (b *reader) fill(limit int) error {
	if b.err != nil {
		return b.err
	}
	if b.src == nil {
		return io.EOF // a view of bytes already read (checkBuffered): nothing more
	}
	if b.w == len(b.buf) {
		if b.r > 0 {
			n := copy(b.buf, b.buf[b.r:b.w])
			b.r, b.w = 0, n
		} else if len(b.buf) < limit {
			nb := make([]byte, min(2*len(b.buf), limit))
			copy(nb, b.buf[:b.w])
			if b.pbuf != nil {
				readBufPool.Put(b.pbuf)
				b.pbuf = nil
			}
			b.buf = nb
		} else {
			return io.ErrShortBuffer
		}
	}
	if b.onRead != nil {
		b.onRead()
	}
	n, err := b.src.Read(b.buf[b.w:])
	b.w += n
	if err == errWouldBlock { // inline: nothing yet, the callback waits
		return err
	}
	if err != nil {
		b.err = err
		if n > 0 {
			return nil
		}
	}
	return err
}

var (
	crlfcrlf = []byte("\n\r\n")
	lflf     = []byte("\n\n")
)

// readHead returns the next message head, through its empty line, from the
// buffer (valid until the next read). A head longer than limit bytes is
// ErrHeadTooLarge (431, RFC 6585 section 5); started reports whether any
// byte of it arrived (an idle connection that ends is not an error worth
// answering). An empty line before a request-line, which RFC 9112 section
// 2.2 says a server SHOULD skip, is read as the head's first line and
// refused as a malformed request-line: a gateway does not guess where a
// message starts.
func (b *reader) readHead(limit int) (head []byte, started bool, err error) {
	scan := b.r
	for {
		if i := bytes.Index(b.buf[scan:b.w], crlfcrlf); i >= 0 {
			end := scan + i + len(crlfcrlf)
			if end-b.r > limit {
				return nil, true, ErrHeadTooLarge
			}
			head = b.buf[b.r:end]
			b.r = end
			return head, true, nil
		}
		// Two LFs in a row end a head for a parser that accepts bare LF
		// (RFC 9112 section 2.2 allows it); refuse now rather than wait for
		// a CRLF CRLF that a different parser would never look for. Only
		// the new bytes are searched, so a head sent a byte at a time costs
		// linear time.
		if bytes.Contains(b.buf[scan:b.w], lflf) {
			return nil, true, ErrBareLF
		}
		if b.w-b.r >= limit {
			return nil, true, ErrHeadTooLarge
		}
		scan = max(b.r, b.w-2)
		started = b.w > b.r
		off := b.r
		if err := b.fill(limit + 1); err != nil {
			if err == io.ErrShortBuffer {
				return nil, true, ErrHeadTooLarge
			}
			return nil, started, err
		}
		scan -= off - b.r // compaction moved the window
		if scan < b.r {
			scan = b.r
		}
	}
}

// readLine returns the next CRLF-terminated line without its CRLF, for
// chunk-size and trailer lines, refusing lines longer than limit (tooLong)
// and lines ended by a bare LF (RFC 9112 sections 2.2 and 7.1).
func (b *reader) readLine(limit int, tooLong *Error) ([]byte, error) {
	scan := b.r
	for {
		if i := bytes.IndexByte(b.buf[scan:b.w], '\n'); i >= 0 {
			end := scan + i + 1
			line := b.buf[b.r:end]
			if len(line) > limit+2 {
				return nil, tooLong
			}
			b.r = end
			if len(line) < 2 || line[len(line)-2] != '\r' {
				return nil, ErrBareLF
			}
			return line[:len(line)-2], nil
		}
		if b.w-b.r > limit+2 {
			return nil, tooLong
		}
		off := b.r
		scan = b.w
		if err := b.fill(max(limit+2, readBufSize)); err != nil {
			if err == io.ErrShortBuffer {
				return nil, tooLong
			}
			return nil, err
		}
		scan -= off - b.r
	}
}

// read copies buffered bytes into p, or reads from the connection when
// none are buffered (straight into p when p is large).
func (b *reader) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		if b.src == nil {
			return 0, io.EOF // a view of bytes already read: nothing more
		}
		if len(p) >= len(b.buf) {
			if b.onRead != nil {
				b.onRead()
			}
			n, err := b.src.Read(p)
			if err != nil {
				b.err = err
			}
			return n, err
		}
		b.r, b.w = 0, 0
		if err := b.fill(len(b.buf)); err != nil && b.r == b.w {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// peekByte returns the next byte without consuming it.
func (b *reader) readByte() (byte, error) {
	for b.r == b.w {
		if err := b.fill(len(b.buf)); err != nil && b.r == b.w {
			return 0, err
		}
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}
