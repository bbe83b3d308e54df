package response

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("security_headers", securityHeadersConfig{}, compileSecurityHeaders) }

// securityHeadersConfig is the YAML of the security_headers kind.
// Strict-Transport-Security is the listener's (tls.hsts), not a route's.
type securityHeadersConfig struct {
	// Strip lists further response headers that reveal internals
	// (Server and X-Powered-By are always stripped).
	Strip []string `yaml:"strip,omitempty"`
	// NoStore sets Cache-Control: no-store on authenticated responses
	// (default true).
	NoStore *bool `yaml:"no_store,omitempty"`
	// FrameOptions is X-Frame-Options: DENY (default), SAMEORIGIN or off.
	FrameOptions *string `yaml:"frame_options,omitempty"`
	// ReferrerPolicy is Referrer-Policy (default no-referrer; off to omit).
	ReferrerPolicy *string `yaml:"referrer_policy,omitempty"`
	// ContentSecurityPolicy, when set, is sent as Content-Security-Policy.
	ContentSecurityPolicy string `yaml:"content_security_policy,omitempty"`
}

// securityHeaders strips headers that reveal internals and adds the
// headers that keep browsers and caches from misusing API responses.
type securityHeaders struct {
	strip   []string
	set     []headerKV
	noStore bool
}

// unstrippable are headers the gateway needs to frame or identify the
// response.
var unstrippable = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"X-Request-Id": true, "Trailer": true, "Content-Type": true,
}

var referrerPolicies = map[string]bool{
	"no-referrer": true, "no-referrer-when-downgrade": true, "origin": true,
	"origin-when-cross-origin": true, "same-origin": true, "strict-origin": true,
	"strict-origin-when-cross-origin": true, "unsafe-url": true,
}

func compileSecurityHeaders(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	var cfg securityHeadersConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	p := &securityHeaders{strip: []string{"Server", "X-Powered-By"}, noStore: cfg.NoStore == nil || *cfg.NoStore}
	for _, name := range cfg.Strip {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return nil, fmt.Errorf("strip: invalid header name %q", name)
		}
		cn := textproto.CanonicalMIMEHeaderKey(name)
		if unstrippable[cn] {
			return nil, fmt.Errorf("strip: header %q is needed by the gateway and cannot be stripped", name)
		}
		p.strip = append(p.strip, cn)
	}
	p.set = append(p.set, kv("X-Content-Type-Options", "nosniff"))
	fo := "DENY"
	if cfg.FrameOptions != nil {
		fo = strings.ToUpper(*cfg.FrameOptions)
	}
	switch fo {
	case "DENY", "SAMEORIGIN":
		p.set = append(p.set, kv("X-Frame-Options", fo))
	case "OFF":
	default:
		return nil, fmt.Errorf("frame_options: %q is not DENY, SAMEORIGIN or off", *cfg.FrameOptions)
	}
	rp := "no-referrer"
	if cfg.ReferrerPolicy != nil {
		rp = strings.ToLower(*cfg.ReferrerPolicy)
	}
	switch {
	case rp == "off":
	case referrerPolicies[rp]:
		p.set = append(p.set, kv("Referrer-Policy", rp))
	default:
		return nil, fmt.Errorf("referrer_policy: %q is not a referrer policy (no-referrer, same-origin, strict-origin, ...) or off", *cfg.ReferrerPolicy)
	}
	if csp := cfg.ContentSecurityPolicy; csp != "" {
		if strings.ContainsAny(csp, "\r\n\x00") {
			return nil, fmt.Errorf("content_security_policy: contains a control character")
		}
		p.set = append(p.set, kv("Content-Security-Policy", csp))
	}
	return p, nil
}

// headerKV is a header with its value built at load time. The value
// slice is shared by every response; its capacity equals its length, so an
// append elsewhere copies it instead of writing into it.
type headerKV struct {
	name string
	v    []string
}

func kv(name, value string) headerKV { return headerKV{name, []string{value}[:1:1]} }

var noStore = []string{"no-store"}[:1:1]

func (p *securityHeaders) Respond(c *pipeline.Context, _ int, h http.Header) {
	for _, k := range p.strip {
		delete(h, k)
	}
	for _, e := range p.set {
		h[e.name] = e.v
	}
	if p.noStore && c.Identity != nil {
		h["Cache-Control"] = noStore
	}
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.ResponsePolicy = (*securityHeaders)(nil)
	_ pipeline.OnePerRoute    = (*securityHeaders)(nil)
)

// WhyOnePerRoute: both set the same response headers; which one's value
// a response carries would depend on the order they run in.
func (p *securityHeaders) WhyOnePerRoute() string {
	return "both set the same response headers and one would silently replace the other's; write one policy"
}
