package gateway

import (
	"reflect"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/events"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// policyCategories maps the policy kinds that refuse for a security reason
// to their event category. Kinds not listed (cors, transforms, response policies)
// refuse for other reasons and make no event.
var policyCategories = map[string]string{
	"auth":            events.CategoryAuthentication,
	"acl":             events.CategoryAuthorization,
	"scopes":          events.CategoryAuthorization,
	"rule":            events.CategoryAuthorization,
	"signature":       events.CategorySignature,
	"waf":             events.CategoryWAF,
	"rate_limit":      events.CategoryLimits,
	"concurrency":     events.CategoryLimits,
	"ip_filter":       events.CategoryIPFilter,
	"validate":        events.CategoryValidation,
	"openapi":         events.CategoryValidation,
	"require_headers": events.CategoryValidation,
}

// refusalCategory is the event category of a finished request, "" when it
// is not a refusal with a security reason.
func refusalCategory(out *outcome) string {
	if out.status < 400 {
		return ""
	}
	if out.by.ok && out.rt != nil {
		return policyCategories[out.rt.kinds[out.by.phase][out.by.index]]
	}
	r := out.reason
	switch {
	case r == "banned":
		return events.CategoryBan
	case strings.HasPrefix(r, "framing:"), strings.HasPrefix(r, "malformed request"):
		return events.CategoryFraming
	case strings.HasPrefix(r, "ip_filter:"):
		return events.CategoryIPFilter
	case strings.HasPrefix(r, "path"), strings.HasPrefix(r, "host:"), strings.HasPrefix(r, "request target"),
		strings.HasPrefix(r, "fragment"), strings.HasPrefix(r, "invalid character"), strings.HasPrefix(r, "method override"),
		strings.HasPrefix(r, "repeated header"):
		return events.CategoryNormalization
	case out.status == 421:
		return events.CategoryTLS
	case strings.HasPrefix(r, "body larger"):
		return events.CategoryLimits
	case strings.HasPrefix(r, "timeout:"):
		return events.CategoryTimeout
	}
	return ""
}

// eventReason is the refusal reason as an event carries it: the gateway's
// own text up to anything quoted (a few reasons quote a piece of the
// request, which an event never carries).
func eventReason(r string) string {
	if i := strings.IndexAny(r, "\"'"); i >= 0 {
		r = strings.TrimRight(r[:i], " :")
	}
	return r
}

// emitRefusal writes the security event of a refused request.
func (g *Gateway) emitRefusal(method string, c *pipeline.Context, out *outcome) {
	s := g.stream.Load()
	if s == nil {
		return
	}
	cat := refusalCategory(out)
	if cat == "" {
		return
	}
	ev := &events.Event{Time: time.Now().UTC(), Type: "refusal", RequestID: c.RequestID, Route: out.route,
		Category: cat, Reason: eventReason(out.reason), Rule: out.rule, Status: out.status, Method: method}
	if c.ClientAddr.IsValid() {
		ev.Client = c.ClientAddr.String()
	}
	if c.Identity != nil {
		ev.Consumer = c.Identity.Consumer
	}
	s.Emit(ev)
}

// swapStream builds the event stream of cfg when it differs from the
// current one's, and retires the old one. An unchanged stream opens its
// log file again (rotation by rename, then a reload), as the access log.
func (g *Gateway) swapStream(cfg *config.Config) error {
	old := g.stream.Load()
	want := cfg.Observability.SecurityEvents
	if old != nil && reflect.DeepEqual(old.Config(), want) {
		return old.Reopen()
	}
	if old == nil && g.streamBuilt && reflect.DeepEqual(g.streamCfg, want) {
		return nil // still off
	}
	s, err := events.New(want, g.evFam, g.log)
	if err != nil {
		return err
	}
	g.stream.Store(s)
	g.streamCfg, g.streamBuilt = want, true
	old.Close()
	return nil
}
