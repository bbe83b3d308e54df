package validate

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
)

// The signature base (RFC 9421 section 2.5): one line per covered
// component, `"name";params: value`, then the `"@signature-params"` line,
// joined by LF with no trailing LF. The verifier rebuilds it from the
// request as the gateway received it: the raw request target, the Host,
// and the header fields the client sent.

var (
	errComponentAbsent      = errors.New("a covered component is absent from the request")
	errComponentUnsupported = errors.New("a covered component is not supported")
)

// derivedComponents are the derived components a request can carry and
// the gateway can rebuild (section 2.2). @query-param, @status and
// @signature-params are not accepted as covered components.
var derivedComponents = map[string]bool{
	"@method": true, "@target-uri": true, "@authority": true, "@scheme": true,
	"@request-target": true, "@path": true, "@query": true,
}

// validComponentName reports whether name may be listed as a covered
// component: a supported derived component or a lower-case field name.
func validComponentName(name string) bool {
	if strings.HasPrefix(name, "@") {
		return derivedComponents[name]
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTchar(c) || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// appendSignatureBase appends the signature base of in over r to b.
func appendSignatureBase(b []byte, r *http.Request, in *signedInput) ([]byte, error) {
	for _, c := range in.components {
		b = appendSFItem(b, c.Item)
		b = appendSFParams(b, c.Params)
		b = append(b, ": "...)
		var err error
		if b, err = appendComponentValue(b, r, c); err != nil {
			return b, err
		}
		b = append(b, '\n')
	}
	b = append(b, `"@signature-params": `...)
	return appendSFInnerList(b, in.components, in.params), nil
}

func appendComponentValue(b []byte, r *http.Request, c sfListItem) ([]byte, error) {
	name := c.Item.Str
	if strings.HasPrefix(name, "@") {
		if len(c.Params) > 0 {
			return b, errComponentUnsupported
		}
		switch name {
		case "@method":
			return append(b, r.Method...), nil
		case "@authority":
			return append(b, authority(r)...), nil
		case "@scheme":
			return append(b, scheme(r)...), nil
		case "@target-uri":
			b = append(b, scheme(r)...)
			b = append(b, "://"...)
			b = append(b, authority(r)...)
			return append(b, r.RequestURI...), nil
		case "@request-target":
			return append(b, r.RequestURI...), nil
		case "@path":
			p, _, _ := strings.Cut(r.RequestURI, "?")
			if p == "" {
				p = "/"
			}
			return append(b, p...), nil
		case "@query":
			_, q, _ := strings.Cut(r.RequestURI, "?")
			b = append(b, '?')
			return append(b, q...), nil
		}
		return b, errComponentUnsupported
	}

	bs := false
	for _, p := range c.Params {
		if p.Key == "bs" && p.Value.Kind == sfBool && p.Value.Bool {
			bs = true
			continue
		}
		return b, errComponentUnsupported // sf, key, req, tr: not supported
	}
	var values []string
	if name == "host" {
		// net/http moves Host out of the header map.
		values = []string{r.Host}
	} else {
		values = r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	}
	if len(values) == 0 {
		return b, errComponentAbsent
	}
	for i, v := range values {
		if i > 0 {
			b = append(b, ", "...)
		}
		v = strings.Trim(v, " \t")
		if bs {
			b = append(b, ':')
			b = base64.StdEncoding.AppendEncode(b, []byte(v))
			b = append(b, ':')
		} else {
			b = append(b, v...)
		}
	}
	return b, nil
}

// scheme is the scheme of the request as the gateway received it.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// authority is the Host in lower case without the scheme's default port
// (RFC 9421 section 2.2.3, normalized per RFC 9110 section 4.2.3).
func authority(r *http.Request) string {
	h := strings.ToLower(r.Host)
	if r.TLS != nil {
		return strings.TrimSuffix(h, ":443")
	}
	return strings.TrimSuffix(h, ":80")
}
