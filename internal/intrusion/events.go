package intrusion

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
)

// Event is a kind of security event.
type Event uint8

// The security events, as named in intrusion_detection rules.
const (
	EventNone Event = iota
	EventAuthFailure
	EventForbidden
	EventNotFound
	EventRateLimited
	EventMalformed
	EventWAF
	// EventTimeout is a request whose head or body did not arrive within
	// the listener's read timeouts: a slow network or a slowloris, counted
	// apart from malformed requests so that a client on a bad link is not
	// banned as an attacker by the malformed-request rule.
	EventTimeout
)

var eventNames = [...]string{"", config.EventAuthFailure, config.EventForbidden, config.EventNotFound, config.EventRateLimited, config.EventMalformed, config.EventWAF, config.EventTimeout}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "unknown"
}

func parseEvent(s string) Event {
	for i, n := range eventNames {
		if i > 0 && n == s {
			return Event(i)
		}
	}
	return EventNone
}

// Classify names the security event a finished request is, from its final
// status and the gateway's refusal reason ("" when the upstream answered).
// A 400 counts only when the gateway refused the request: an upstream's
// 400 is the application's validation, not a malformed request.
func Classify(status int, reason string, byGateway bool) Event {
	switch status {
	case http.StatusUnauthorized:
		return EventAuthFailure
	case http.StatusForbidden:
		if byGateway && strings.HasPrefix(reason, "validate: waf") {
			return EventWAF
		}
		return EventForbidden
	case http.StatusNotFound:
		return EventNotFound
	case http.StatusTooManyRequests:
		return EventRateLimited
	case http.StatusRequestTimeout:
		if byGateway {
			return EventTimeout
		}
	case http.StatusBadRequest:
		if byGateway {
			if strings.HasPrefix(reason, "validate: waf") {
				return EventWAF
			}
			return EventMalformed
		}
	}
	return EventNone
}
