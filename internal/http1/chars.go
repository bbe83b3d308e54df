package http1

import (
	"net/textproto"
	"strings"

	"github.com/portcullis/portcullis/internal/ascii"
)

// tchar: RFC 9110 section 5.6.2, token = 1*tchar.
var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

// isValueByte: RFC 9110 section 5.5, field-value bytes are VCHAR, obs-text,
// SP and HTAB. Every other control byte (NUL, CR, LF, DEL...) is refused:
// a bare CR or LF is how a value forges a header line downstream.
var isValueByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for c := 0x80; c <= 0xff; c++ {
		t[c] = true
	}
	t['\t'] = true
	return
}()

// isTargetByte: the bytes a request-target may hold raw (RFC 9112 section
// 3.2, RFC 3986 section 2): visible ASCII. A fragment ("#") is never sent
// by a client (RFC 9110 section 7.1) and is refused too.
var isTargetByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	t['#'] = false
	return
}()

// plainPathByte: bytes net/url leaves alone in a path (neither escaped on
// output nor decoded on input). A target made only of these parses to
// Path == the raw path and RawPath == "", with no allocation.
var plainPathByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return
}()

// IsTchar reports an RFC 9110 tchar (section 5.6.2): the bytes of a
// token, which field names and methods are.
func IsTchar(c byte) bool { return isTchar[c] }

// ValidToken reports whether s is a token (RFC 9110 section 5.6.2): one or
// more tchar. Field names and methods are tokens; whitespace before a
// field's colon is not one, which is how it is refused.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar[s[i]] {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether every byte of s may be in a field value
// (RFC 9110 section 5.5, isValueByte): no CTL but HTAB, no DEL. A CR or LF
// in a value is how a header line is forged downstream, so the parser
// refuses such a value and the writers never send one. One rule for
// everything that reads or writes a header: the request and response
// parsers, the engine's response writer and the upstream request writer.
//
// Long values (bearer tokens, cookies) are screened sixteen bytes at a
// time: a block in which no byte is below 0x20 or equal to 0x7f is valid
// whole; any other block (a HTAB, or a byte the rule refuses) goes to the
// table. On a bearer token's 840 bytes that is about 95 ns against 265 for
// the table alone (BenchmarkValidFieldValue). Values shorter than a block
// take the table.
func ValidFieldValue(s string) bool {
	for len(s) >= 16 {
		if (ctlOrDel(load64(s[:8]))|ctlOrDel(load64(s[8:16]))) != 0 && !validValueBytes(s[:16]) {
			return false
		}
		s = s[16:]
	}
	return validValueBytes(s)
}

// validValueBytes is the rule byte by byte, through the table.
func validValueBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isValueByte[s[i]] {
			return false
		}
	}
	return true
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load64 is the first eight bytes of w (at least eight long) as one word;
// the compiler makes it one load.
func load64(w string) uint64 {
	w = w[:8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// ctlOrDel is non-zero when a byte of x is below 0x20 or equal to 0x7f:
// the classic tests for a byte below n, (x - n*ones) &^ x & highs, and for
// a zero byte after XOR with 0x7f. Bytes of 0x80 and above (obs-text) have
// their high bit set, so &^ x keeps them out. It may flag a block whose
// only control byte is a HTAB; the table then decides.
func ctlOrDel(x uint64) uint64 {
	d := x ^ (0x7f * ones)
	return ((x-0x20*ones)&^x | (d-ones)&^d) & highs
}

// trimOWS drops optional whitespace (SP, HTAB) around a field value
// (RFC 9110 section 5.6.3).
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken reports whether the comma-separated list v holds tok (lower
// case), ignoring case and OWS.
func hasToken(v, tok string) bool {
	for v != "" {
		var item string
		if i := strings.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, ""
		}
		if ascii.EqualFoldLower(trimOWS(item), tok) {
			return true
		}
	}
	return false
}

// commonKeys maps the lower-case spelling of frequent field names to their
// canonical form, so a client that sends them in lower case (curl with -H,
// HTTP/2-minded clients) costs no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Type", "Cookie", "Date", "Etag", "Expect", "Expires", "Forwarded",
		"Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Last-Modified", "Location", "Origin", "Pragma", "Range", "Referer",
		"Server", "Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"Vary", "Via", "X-Api-Key", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Accept",
		"Access-Control-Request-Method", "Access-Control-Request-Headers",
		"Strict-Transport-Security", "Content-Security-Policy", "Traceparent", "Tracestate",
	} {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			panic("http1: common key not canonical: " + k)
		}
		m[lowerASCII(k)] = k
	}
	return m
}()

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isCanonical reports whether name (a valid token) is already in the form
// textproto.CanonicalMIMEHeaderKey gives it.
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// keyCanon returns the canonical map key for the field name (a valid
// token), as net/http would: the name itself when it is already canonical,
// a shared constant for common names in other spellings, a new string
// otherwise. scratch is a reusable buffer for the lookup.
func keyCanon(name string, scratch *[]byte) string {
	if isCanonical(name) {
		return name
	}
	b := append((*scratch)[:0], name...)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	*scratch = b
	if k, ok := commonKeys[string(b)]; ok { // no allocation: map index by converted bytes
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
