package validate

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// A small, strict parser and serializer for the parts of RFC 8941
// (Structured Field Values) that HTTP Message Signatures and Content-Digest
// use: dictionaries whose members are items or inner lists, with
// parameters. Serialization is canonical (RFC 8941 section 4.1), which is
// what the signature base needs: the verifier re-serializes what it parsed
// rather than trusting the sender's spelling.

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBool
)

// sfItem is a bare item. Str holds strings, tokens and decimals (in
// canonical text); Int integers; Bytes byte sequences; Bool booleans.
type sfItem struct {
	Kind  sfKind
	Str   string
	Int   int64
	Bytes []byte
	Bool  bool
}

// sfParam is one parameter; parameters keep their order.
type sfParam struct {
	Key   string
	Value sfItem
}

type sfParams []sfParam

// sfMember is a dictionary member: an item or an inner list, with parameters.
type sfMember struct {
	Key    string
	IsList bool
	Item   sfItem
	List   []sfListItem
	Params sfParams
}

// sfListItem is an item in an inner list.
type sfListItem struct {
	Item   sfItem
	Params sfParams
}

// Limits keep a hostile header from costing more than a small, fixed amount.
const (
	sfMaxMembers = 16
	sfMaxList    = 64
	sfMaxParams  = 16
)

var errSF = errors.New("malformed structured field")

type sfParser struct {
	s string
	i int
}

// parseSFDictionary parses an RFC 8941 dictionary (section 4.2.2). A
// repeated key overwrites the earlier value in place, as the RFC says.
func parseSFDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for p.i < len(p.s) {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		m := sfMember{Key: key}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				m.IsList = true
				m.List, m.Params, err = p.innerList()
			} else {
				m.Item, m.Params, err = p.item()
			}
		} else {
			m.Item = sfItem{Kind: sfBool, Bool: true}
			m.Params, err = p.params()
		}
		if err != nil {
			return nil, err
		}
		replaced := false
		for j := range out {
			if out[j].Key == key {
				out[j], replaced = m, true
				break
			}
		}
		if !replaced {
			if len(out) == sfMaxMembers {
				return nil, errSF
			}
			out = append(out, m)
		}
		p.skipOWS()
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, errSF
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return nil, errSF // trailing comma
		}
	}
	return out, nil
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isTchar is RFC 9110's tchar.
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// key parses an RFC 8941 key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", errSF
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) innerList() ([]sfListItem, sfParams, error) {
	p.i++ // '('
	var list []sfListItem
	for {
		p.skipSP()
		if p.i >= len(p.s) {
			return nil, nil, errSF
		}
		if p.s[p.i] == ')' {
			p.i++
			ps, err := p.params()
			return list, ps, err
		}
		if len(list) == sfMaxList {
			return nil, nil, errSF
		}
		it, ps, err := p.item()
		if err != nil {
			return nil, nil, err
		}
		list = append(list, sfListItem{Item: it, Params: ps})
		if c := p.peek(); c != ' ' && c != ')' {
			return nil, nil, errSF
		}
	}
}

func (p *sfParser) item() (sfItem, sfParams, error) {
	it, err := p.bareItem()
	if err != nil {
		return sfItem{}, nil, err
	}
	ps, err := p.params()
	return it, ps, err
}

func (p *sfParser) params() (sfParams, error) {
	var ps sfParams
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		v := sfItem{Kind: sfBool, Bool: true}
		if p.peek() == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range ps {
			if ps[j].Key == k {
				ps[j].Value, replaced = v, true
				break
			}
		}
		if !replaced {
			if len(ps) == sfMaxParams {
				return nil, errSF
			}
			ps = append(ps, sfParam{Key: k, Value: v})
		}
	}
	return ps, nil
}

func (p *sfParser) bareItem() (sfItem, error) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == ':':
		return p.bytes()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			b := p.s[p.i+1] == '1'
			p.i += 2
			return sfItem{Kind: sfBool, Bool: b}, nil
		}
		return sfItem{}, errSF
	case isAlpha(c) || c == '*':
		start := p.i
		p.i++
		for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfItem{Kind: sfToken, Str: p.s[start:p.i]}, nil
	}
	return sfItem{}, errSF
}

// number parses an integer (up to 15 digits) or a decimal (up to 12
// integer and 3 fractional digits), RFC 8941 section 4.2.4.
func (p *sfParser) number() (sfItem, error) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	intDigits := p.s[start:p.i]
	if len(intDigits) == 0 {
		return sfItem{}, errSF
	}
	if p.peek() != '.' {
		if len(intDigits) > 15 {
			return sfItem{}, errSF
		}
		n, err := strconv.ParseInt(intDigits, 10, 64)
		if err != nil {
			return sfItem{}, errSF
		}
		if neg {
			n = -n
		}
		return sfItem{Kind: sfInteger, Int: n}, nil
	}
	if len(intDigits) > 12 {
		return sfItem{}, errSF
	}
	p.i++
	fs := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	frac := p.s[fs:p.i]
	if len(frac) == 0 || len(frac) > 3 {
		return sfItem{}, errSF
	}
	// Canonical form: no leading zeros, trailing zeros dropped but one kept.
	ip := strings.TrimLeft(intDigits, "0")
	if ip == "" {
		ip = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		frac = "0"
	}
	txt := ip + "." + frac
	if neg {
		txt = "-" + txt
	}
	return sfItem{Kind: sfDecimal, Str: txt}, nil
}

func (p *sfParser) str() (sfItem, error) {
	p.i++ // opening quote
	var b strings.Builder
	start := p.i
	simple := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if simple {
				return sfItem{Kind: sfString, Str: p.s[start : p.i-1]}, nil
			}
			return sfItem{Kind: sfString, Str: b.String()}, nil
		case c == '\\':
			if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
				return sfItem{}, errSF
			}
			if simple {
				simple = false
				b.WriteString(p.s[start:p.i])
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c < 0x20 || c > 0x7e:
			return sfItem{}, errSF
		default:
			if !simple {
				b.WriteByte(c)
			}
			p.i++
		}
	}
	return sfItem{}, errSF
}

func (p *sfParser) bytes() (sfItem, error) {
	p.i++ // ':'
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return sfItem{}, errSF
	}
	enc := p.s[p.i : p.i+end]
	p.i += end + 1
	for j := 0; j < len(enc); j++ {
		c := enc[j]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return sfItem{}, errSF
		}
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// RFC 8941 4.2.7: parsers should accept a value without padding.
		if b, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			return sfItem{}, errSF
		}
	}
	return sfItem{Kind: sfBytes, Bytes: b}, nil
}

// appendSFItem serializes a bare item canonically (RFC 8941 section 4.1.3).
func appendSFItem(b []byte, it sfItem) []byte {
	switch it.Kind {
	case sfInteger:
		return strconv.AppendInt(b, it.Int, 10)
	case sfDecimal, sfToken:
		return append(b, it.Str...)
	case sfString:
		b = append(b, '"')
		for i := 0; i < len(it.Str); i++ {
			if c := it.Str[i]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, it.Str[i])
		}
		return append(b, '"')
	case sfBytes:
		b = append(b, ':')
		b = base64.StdEncoding.AppendEncode(b, it.Bytes)
		return append(b, ':')
	case sfBool:
		if it.Bool {
			return append(b, "?1"...)
		}
		return append(b, "?0"...)
	}
	return b
}

// appendSFParams serializes parameters; a true boolean is the bare key.
func appendSFParams(b []byte, ps sfParams) []byte {
	for _, p := range ps {
		b = append(b, ';')
		b = append(b, p.Key...)
		if p.Value.Kind == sfBool && p.Value.Bool {
			continue
		}
		b = append(b, '=')
		b = appendSFItem(b, p.Value)
	}
	return b
}

// appendSFInnerList serializes an inner list with its parameters.
func appendSFInnerList(b []byte, list []sfListItem, ps sfParams) []byte {
	b = append(b, '(')
	for i, it := range list {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendSFItem(b, it.Item)
		b = appendSFParams(b, it.Params)
	}
	b = append(b, ')')
	return appendSFParams(b, ps)
}
