package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/portcullis/portcullis/internal/ijson"
)

// introspected is what the gateway keeps of an RFC 7662 introspection
// response. Only these members are read; others are ignored.
type introspected struct {
	Active   bool
	Scopes   []string
	ClientID string
	Subject  string
	Username string
	Issuer   string
	Audience []string
	Exp      int64 // seconds since the epoch; 0 when absent
}

// introspectionWire is the JSON shape. Pointers tell absent from zero.
type introspectionWire struct {
	Active   *bool           `json:"active"`
	Scope    *string         `json:"scope"`
	ClientID *string         `json:"client_id"`
	Sub      *string         `json:"sub"`
	Username *string         `json:"username"`
	Iss      *string         `json:"iss"`
	Aud      json.RawMessage `json:"aud"`
	Exp      *float64        `json:"exp"`
}

// maxIntrospectionResponse bounds the response body the gateway reads.
const maxIntrospectionResponse = 1 << 20

var errMalformedIntrospection = errors.New("malformed introspection response")

// parseIntrospection decodes a response body. It is strict where a loose
// reading could grant access: "active" must be a JSON boolean, members
// the gateway uses must have their RFC 7662 types, and "exp" must be a
// plausible time. Errors never quote the body (it may hold personal data).
func parseIntrospection(body []byte) (introspected, error) {
	// RFC 7493: the answer decides access, so it must read one way only:
	// {"active":false,"active":true} is refused, not read as its last
	// member (internal/ijson).
	if err := ijson.Check(body); err != nil {
		return introspected{}, fmt.Errorf("%w: %s", errMalformedIntrospection, ijson.LogReason(err))
	}
	// Members are looked up by their exact names: encoding/json matches
	// struct fields case-insensitively, which would read "ACTIVE" as
	// "active" (and the last of the two).
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return introspected{}, fmt.Errorf("%w: not a JSON object with the expected member types", errMalformedIntrospection)
	}
	var w introspectionWire
	for name, dst := range map[string]any{"active": &w.Active, "scope": &w.Scope, "client_id": &w.ClientID,
		"sub": &w.Sub, "username": &w.Username, "iss": &w.Iss, "exp": &w.Exp} {
		if raw, ok := members[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return introspected{}, fmt.Errorf("%w: not a JSON object with the expected member types", errMalformedIntrospection)
			}
		}
	}
	w.Aud = members["aud"]
	if w.Active == nil {
		return introspected{}, fmt.Errorf("%w: no boolean \"active\" member", errMalformedIntrospection)
	}
	out := introspected{Active: *w.Active}
	if !out.Active {
		return out, nil // nothing else matters for an inactive token
	}
	if w.Scope != nil {
		out.Scopes = strings.Fields(*w.Scope)
	}
	out.ClientID = introspectionString(w.ClientID)
	out.Subject = introspectionString(w.Sub)
	out.Username = introspectionString(w.Username)
	out.Issuer = introspectionString(w.Iss)
	if w.Exp != nil {
		e := *w.Exp
		// Bounded so that conversions and later arithmetic cannot overflow.
		if math.IsNaN(e) || e <= 0 || e > 1<<40 {
			return introspected{}, fmt.Errorf("%w: \"exp\" is not a plausible time", errMalformedIntrospection)
		}
		out.Exp = int64(e)
	}
	aud, err := parseIntrospectionAudience(w.Aud)
	if err != nil {
		return introspected{}, err
	}
	out.Audience = aud
	return out, nil
}

// parseIntrospectionAudience reads "aud": absent, null, a string or an array of strings.
func parseIntrospectionAudience(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: \"aud\" is not a string", errMalformedIntrospection)
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: \"aud\" is neither a string nor an array of strings", errMalformedIntrospection)
	}
	return list, nil
}

func introspectionString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
