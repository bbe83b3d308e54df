package normalize

import (
	"strings"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/ascii"
)

// Reasons a path is refused. They are short, fixed and safe to show to
// clients; callers may compare PathError.Reason against them.
const (
	ReasonNotOriginForm = "path must start with /"
	ReasonBadEscape     = "invalid percent-encoding in path"
	ReasonControl       = "control character in path"
	ReasonInvalidUTF8   = "invalid UTF-8 in path"
	ReasonBackslash     = "backslash in path"
	ReasonEncodedDot    = "encoded dot segment in path"
	ReasonAmbiguousDot  = "dot segment next to encoded slash or parameter"
	ReasonAboveRoot     = "path escapes root"
	ReasonSemicolon     = "semicolon (path parameter) in path"
	ReasonFragment      = "fragment (#) in path"
	ReasonInvalidChar   = "invalid character in path"
)

// PathError says why a path was refused.
type PathError struct{ Reason string }

func (e *PathError) Error() string { return "normalize: " + e.Reason }

// Errors are preallocated: refusing hostile input should cost nothing.
var (
	errNotOriginForm = &PathError{ReasonNotOriginForm}
	errBadEscape     = &PathError{ReasonBadEscape}
	errControl       = &PathError{ReasonControl}
	errInvalidUTF8   = &PathError{ReasonInvalidUTF8}
	errBackslash     = &PathError{ReasonBackslash}
	errEncodedDot    = &PathError{ReasonEncodedDot}
	errAmbiguousDot  = &PathError{ReasonAmbiguousDot}
	errAboveRoot     = &PathError{ReasonAboveRoot}
	errSemicolon     = &PathError{ReasonSemicolon}
	errFragment      = &PathError{ReasonFragment}
	errInvalidChar   = &PathError{ReasonInvalidChar}
)

// Path is a canonical request path.
type Path struct {
	// Canonical is the escaped form, used for routing and sent upstream as
	// the request's RawPath.
	Canonical string
	// HasEncodedSlash reports that a "%2F" remained inside a segment.
	HasEncodedSlash bool
}

// Options changes what Canonicalize accepts. The zero value is the strict
// default used by the package-level functions.
type Options struct {
	// AllowSemicolon keeps raw ";" (path parameters) instead of refusing
	// it. A dot segment with parameters ("..;x") is refused even then.
	AllowSemicolon bool
}

// Canonicalize returns the canonical form of rawPath, the request target
// as received up to '?', with nothing decoded. See the package doc for the
// rules.
func Canonicalize(rawPath string) (Path, error) { return Options{}.Canonicalize(rawPath) }

// IsCanonical reports whether p is accepted and already canonical. The
// gateway refuses a rewritten path for which it is false.
func IsCanonical(p string) bool { return Options{}.IsCanonical(p) }

// IsCanonical is IsCanonical under these options.
func (o Options) IsCanonical(p string) bool {
	c, err := o.Canonicalize(p)
	return err == nil && c.Canonical == p
}

// Canonicalize is Canonicalize under these options.
func (o Options) Canonicalize(raw string) (Path, error) {
	// RFC 9112 section 3.2.1: origin-form = absolute-path [ "?" query ],
	// and absolute-path = 1*( "/" segment ) (RFC 9110 section 4.1).
	if raw == "" || raw[0] != '/' {
		return Path{}, errNotOriginForm
	}
	b := lazyBuf{s: raw}
	b.put('/')
	i := 1
	for i < len(raw) {
		// Collapse "//". Not an RFC 3986 normalization (an empty segment
		// is a segment there): upstreams differ on it, so one form is sent.
		if raw[i] == '/' {
			i++
			continue
		}
		segStart := b.w
		var encDot, encSlash, semi bool
		for i < len(raw) && raw[i] != '/' {
			// Fast path: a run of bytes kept as they are, while the output
			// is still the input itself.
			if b.buf == nil && b.w == i && plain[raw[i]] {
				for i < len(raw) && plain[raw[i]] {
					i++
				}
				b.w = i
				continue
			}
			c := raw[i]
			switch {
			case c == '%':
				v, ok := ascii.PercentByte(raw, i)
				if !ok { // RFC 3986 section 2.1: pct-encoded = "%" HEXDIG HEXDIG
					return Path{}, errBadEscape
				}
				switch {
				case v < 0x20 || v == 0x7f:
					// Valid to RFC 3986, but a decoded control byte cuts
					// strings short or forges lines downstream.
					return Path{}, errControl
				case v >= 0x80:
					next, err := b.putUTF8(raw, i)
					if err != nil {
						return Path{}, err
					}
					i = next
					continue
				case ascii.IsUnreserved(v):
					// RFC 3986 sections 2.3 and 6.2.2.2: an encoded
					// unreserved character is that character; decoded.
					encDot = encDot || v == '.'
					b.put(v)
				case v == '/':
					// RFC 3986 section 2.2: an encoded reserved character
					// is not the character; "%2F" stays, flagged.
					encSlash = true
					b.putEscaped(v)
				case v == '\\':
					return Path{}, errBackslash // see the raw '\\' below
				default:
					b.putEscaped(v) // RFC 3986 section 6.2.2.1: hex digits upper-cased
				}
				i += 3
				continue
			case c >= 0x80:
				next, err := b.putUTF8(raw, i)
				if err != nil {
					return Path{}, err
				}
				i = next
				continue
			case c < 0x20 || c == 0x7f:
				// RFC 3986 section 2: no URI character is a control;
				// RFC 9112 section 3.2: no whitespace in the target.
				return Path{}, errControl
			case c == '\\':
				// Not a URI character (RFC 3986 section 2), yet a path
				// separator to Windows servers and WHATWG URL parsers.
				return Path{}, errBackslash
			case c == '#':
				// RFC 9110 section 7.1: the target URI excludes the
				// fragment (RFC 3986 section 3.5), so a client sends none.
				return Path{}, errFragment
			case c == ' ' || c == '?':
				// RFC 9112 section 3.2: no whitespace in the target; a '?'
				// would start the query, so a path never holds one.
				return Path{}, errInvalidChar
			case c == ';':
				// RFC 3986 section 3.3: ";" commonly delimits segment
				// parameters, which some upstreams strip and the router
				// does not.
				if !o.AllowSemicolon {
					return Path{}, errSemicolon
				}
				semi = true
				b.put(c)
			case ascii.IsUnreserved(c) || isRawPathChar(c):
				b.put(c)
			default: // " < > [ ] ^ ` { | }: not pchar (RFC 3986 section 3.3), escaped
				b.putEscaped(c)
			}
			i++
		}

		var kind segKind
		var err error
		if b.buf == nil {
			kind, err = classify(b.s[segStart:b.w], encDot, encSlash, semi)
		} else {
			kind, err = classify(b.buf[segStart:b.w], encDot, encSlash, semi)
		}
		if err != nil {
			return Path{}, err
		}
		// RFC 3986 section 5.2.4 (remove_dot_segments, also section
		// 6.2.2.3): "." is dropped, ".." drops the segment before it.
		switch kind {
		case segDot:
			b.w = segStart
		case segDotDot:
			// Section 5.2.4 would clamp ".." at the root; it is refused
			// instead: the upstream may not clamp the same way.
			if segStart == 1 {
				return Path{}, errAboveRoot
			}
			// Drop the previous segment: back to just after the slash
			// that precedes it.
			j := segStart - 2
			for b.at(j) != '/' {
				j--
			}
			// A segment of parameters only (";x") is empty to an
			// upstream that strips ";params" (Tomcat, Jetty), which
			// collapses it, so there ".." drops the segment before it:
			// "/a/;x/.." is "/a/" here and "/" there. Refused.
			if b.at(j+1) == ';' {
				return Path{}, errAmbiguousDot
			}
			// A segment holding "%2F" is several segments to an upstream
			// that decodes the whole path before splitting it, so there
			// ".." drops only the last of them: "/a/b%2Fc/.." is "/a/"
			// here and "/a/b/" there, and "/0/%2F/.." hides its encoded
			// slash from the route's check. Refused. (The segment runs
			// from j+1 to the slash at segStart-1; escapes are upper-case.)
			for k := j + 1; k+2 < segStart-1; k++ {
				if b.at(k) == '%' && b.at(k+1) == '2' && b.at(k+2) == 'F' {
					return Path{}, errAmbiguousDot
				}
			}
			b.w = j + 1
		default:
			if i < len(raw) { // raw[i] == '/'
				b.put('/')
			}
		}
	}
	out := b.String()
	return Path{Canonical: out, HasEncodedSlash: strings.Contains(out, "%2F")}, nil
}

type segKind uint8

const (
	segName segKind = iota
	segDot
	segDotDot
)

// classify tells a dot segment from a name. seg is the segment as written
// to the output, so escapes in it are upper-case and every '%' starts one.
func classify[T string | []byte](seg T, encDot, encSlash, semi bool) (segKind, error) {
	if !encSlash && !semi {
		if !isDots(seg) {
			return segName, nil
		}
		// "%2E" is "." (RFC 3986 section 2.3), so "%2E%2E" is a dot
		// segment to a layer that decodes first and a name to one that
		// does not: refused.
		if encDot {
			return 0, errEncodedDot
		}
		if len(seg) == 1 {
			return segDot, nil
		}
		return segDotDot, nil
	}
	// A segment with "%2F" or ";" is a name, but any piece of it that an
	// upstream could read as a dot segment (after decoding %2F, or after
	// stripping ";params") makes it ambiguous.
	start := 0
	for k := 0; k <= len(seg); k++ {
		end := k == len(seg)
		if !end && !(seg[k] == '%' && k+2 < len(seg) && seg[k+1] == '2' && seg[k+2] == 'F') {
			continue
		}
		piece := seg[start:k]
		if semi {
			for j := 0; j < len(piece); j++ {
				if piece[j] == ';' {
					piece = piece[:j]
					break
				}
			}
		}
		if isDots(piece) {
			return 0, errAmbiguousDot
		}
		start = k + 3
		k += 2
	}
	return segName, nil
}

func isDots[T string | []byte](s T) bool {
	return (len(s) == 1 && s[0] == '.') || (len(s) == 2 && s[0] == '.' && s[1] == '.')
}

// lazyBuf builds the output, allocating only once it differs from the
// input (the idea of path.Clean's lazybuf). Unlike path.Clean the output
// may grow past the input, when raw characters are escaped.
type lazyBuf struct {
	s   string
	buf []byte
	w   int
}

func (b *lazyBuf) put(c byte) {
	if b.buf == nil {
		if b.w < len(b.s) && b.s[b.w] == c {
			b.w++
			return
		}
		b.buf = make([]byte, b.w, len(b.s)+16)
		copy(b.buf, b.s[:b.w])
	}
	b.buf = append(b.buf[:b.w], c)
	b.w++
}

const upperHex = "0123456789ABCDEF"

func (b *lazyBuf) putEscaped(c byte) {
	b.put('%')
	b.put(upperHex[c>>4])
	b.put(upperHex[c&15])
}

func (b *lazyBuf) at(i int) byte {
	if b.buf == nil {
		return b.s[i]
	}
	return b.buf[i]
}

func (b *lazyBuf) String() string {
	if b.buf == nil {
		return b.s[:b.w]
	}
	return string(b.buf[:b.w])
}

// putUTF8 reads one UTF-8 sequence starting at raw[i], whose bytes may be
// raw or escaped, refuses it unless valid, and writes it escaped (RFC 3986
// section 2.5 and RFC 3987 section 3.1: non-ASCII characters travel as
// percent-encoded UTF-8). Overlong forms and surrogates are invalid UTF-8
// (RFC 3629 section 3) and refused: section 10 there is the attack. It
// returns the index after the sequence.
func (b *lazyBuf) putUTF8(raw string, i int) (int, error) {
	var seq [utf8.UTFMax]byte
	n, need := 0, 1
	for n < need {
		if i >= len(raw) {
			return 0, errInvalidUTF8
		}
		c := raw[i]
		if c == '%' {
			v, ok := ascii.PercentByte(raw, i)
			if !ok {
				return 0, errBadEscape
			}
			c = v
			i += 3
		} else {
			i++
		}
		if n == 0 {
			if need = utf8SeqLen(c); need == 0 {
				return 0, errInvalidUTF8
			}
		}
		seq[n] = c
		n++
	}
	if !utf8.Valid(seq[:n]) {
		return 0, errInvalidUTF8
	}
	for _, c := range seq[:n] {
		b.putEscaped(c)
	}
	return i, nil
}

// utf8SeqLen is the length of the sequence a lead byte announces, or 0
// for a byte that cannot start one.
func utf8SeqLen(c byte) int {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}

// plain marks the bytes a canonical segment holds raw: unreserved and
// isRawPathChar. '.' is among them; dot segments are caught per segment.
var plain = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = ascii.IsUnreserved(byte(c)) || isRawPathChar(byte(c))
	}
	return t
}()

// isRawPathChar reports the sub-delims (but ';'), ':' and '@', which RFC
// 3986 section 3.3 allows raw in a segment (pchar) and which keep their
// meaning raw.
func isRawPathChar(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return true
	}
	return false
}
