package response

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("deprecation", deprecationConfig{}, compileDeprecation) }

// deprecationConfig is the YAML of the deprecation kind.
type deprecationConfig struct {
	// Deprecated is true, or the RFC 3339 time the route was (or will be)
	// deprecated.
	Deprecated string `yaml:"deprecated"`
	// Sunset is the RFC 3339 time after which the route may stop working.
	Sunset string `yaml:"sunset,omitempty"`
	// Link is a page about the sunset, sent as Link: <url>; rel="sunset".
	Link string `yaml:"link,omitempty"`
}

// deprecation marks a route's responses as deprecated: Deprecation
// (RFC 9745), Sunset (RFC 8594) and a Link to the sunset policy.
type deprecation struct {
	set []headerKV
}

func compileDeprecation(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	var cfg deprecationConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	p := &deprecation{}
	var since time.Time
	switch v := strings.TrimSpace(cfg.Deprecated); v {
	case "":
		return nil, fmt.Errorf("deprecated: true or an RFC 3339 date is required")
	case "true":
		// The form of the drafts before RFC 9745, understood by existing
		// clients when no date is known.
		p.set = append(p.set, kv("Deprecation", "true"))
	default:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("deprecated: %q is neither true nor an RFC 3339 date such as 2026-01-01T00:00:00Z", v)
		}
		since = t
		// RFC 9745: a structured-field date, seconds since the epoch.
		p.set = append(p.set, kv("Deprecation", "@"+strconv.FormatInt(t.Unix(), 10)))
	}
	if cfg.Sunset != "" {
		t, err := time.Parse(time.RFC3339, cfg.Sunset)
		if err != nil {
			return nil, fmt.Errorf("sunset: %q is not an RFC 3339 date such as 2027-01-01T00:00:00Z", cfg.Sunset)
		}
		if !since.IsZero() && t.Before(since) {
			return nil, fmt.Errorf("sunset must not be before the deprecation date")
		}
		p.set = append(p.set, kv("Sunset", t.UTC().Format(http.TimeFormat)))
	}
	if cfg.Link != "" {
		u, err := url.Parse(cfg.Link)
		if err != nil || !u.IsAbs() || u.Host == "" || strings.ContainsAny(cfg.Link, "<>\" \r\n") {
			return nil, fmt.Errorf("link: %q is not an absolute URL", cfg.Link)
		}
		p.set = append(p.set, kv("Link", "<"+cfg.Link+`>; rel="sunset"`))
	}
	return p, nil
}

// Respond adds the headers; Link is added to the upstream's own links.
func (p *deprecation) Respond(_ *pipeline.Context, _ int, h http.Header) {
	for _, e := range p.set {
		if e.name == "Link" {
			h["Link"] = append(h["Link"], e.v[0])
			continue
		}
		h[e.name] = e.v
	}
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.ResponsePolicy = (*deprecation)(nil)
	_ pipeline.OnePerRoute    = (*deprecation)(nil)
)

// WhyOnePerRoute: a response carries one Deprecation date and one Sunset.
func (p *deprecation) WhyOnePerRoute() string {
	return "a response carries one Deprecation and one Sunset, and one policy would silently replace the other's; write one policy"
}
