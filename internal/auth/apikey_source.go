package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// read finds the key in the enabled places. No key anywhere is
// ErrNoCredentials; two different keys are refused, since the gateway and
// the upstream could otherwise disagree about which one counts.
func (m *apiKeyMethod) read(r *http.Request) (key string, err error) {
	take := func(v string) {
		if v == "" {
			return
		}
		if key != "" && v != key {
			err = m.fail(keyReasonMultiple)
		}
		key = v
	}
	if m.header != "" {
		for _, v := range r.Header[m.header] {
			take(strings.TrimSpace(v))
		}
	}
	if m.scheme != "" {
		for _, v := range r.Header["Authorization"] {
			if k, ok := cutKeyScheme(v, m.scheme); ok {
				take(k)
			}
		}
	}
	if m.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		scanKeyQuery(r.URL.RawQuery, m.query, take)
	}
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", ErrNoCredentials
	}
	return key, nil
}

// cutKeyScheme returns the credentials of an Authorization value whose
// scheme is scheme (compared without case, RFC 9110 section 11.1).
func cutKeyScheme(v, scheme string) (string, bool) {
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || (v[len(scheme)] != ' ' && v[len(scheme)] != '\t') {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}

// scanKeyQuery calls f with the value of every name=value pair of the raw
// query whose name is name, without building a map. Values are
// percent-decoded; undecodable ones are passed raw, so they fail the
// checksum instead of vanishing.
func scanKeyQuery(raw, name string, f func(string)) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
		}
		f(v)
	}
}

// validKeyQueryName: a plain parameter name that needs no escaping.
func validKeyQueryName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}
