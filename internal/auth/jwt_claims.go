package auth

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// verified is what a token with a good signature says, decoded once. It is
// shared read-only between requests through the token cache, so nothing
// may change it after newVerified returns (Identity.Claims included).
type verified struct {
	alg, kid string
	// algBit is alg's bit, looked up once: every request checks it against
	// the route's algorithms.
	algBit algSet
	claims map[string]any
	// exp, nbf, iat are NumericDates in seconds; has* says whether present.
	exp, nbf, iat          float64
	hasExp, hasNbf, hasIat bool
	iss                    string
	aud                    []string
	scopes                 []string
}

// newVerified reads the registered claims, refusing wrong types ("exp" as
// a string, "aud" as an object): such a token is malformed, not merely
// lacking the claim.
func newVerified(alg, kid string, claims map[string]any) (*verified, string) {
	v := &verified{alg: alg, algBit: algBit(alg), kid: kid, claims: claims}
	var ok bool
	if v.exp, v.hasExp, ok = numericDate(claims, "exp"); !ok {
		return nil, reasonInvalidClaims
	}
	if v.nbf, v.hasNbf, ok = numericDate(claims, "nbf"); !ok {
		return nil, reasonInvalidClaims
	}
	if v.iat, v.hasIat, ok = numericDate(claims, "iat"); !ok {
		return nil, reasonInvalidClaims
	}
	if x, present := claims["iss"]; present {
		if v.iss, ok = x.(string); !ok {
			return nil, reasonInvalidClaims
		}
	}
	if v.aud, ok = stringOrList(claims["aud"]); !ok {
		return nil, reasonInvalidClaims
	}
	// scope (RFC 8693: space-separated) or scp (a list, as Azure AD and
	// Okta send it; a string is split like scope).
	if s, present := claims["scope"]; present {
		str, isStr := s.(string)
		if !isStr {
			return nil, reasonInvalidClaims
		}
		v.scopes = strings.Fields(str)
	} else if s, present := claims["scp"]; present {
		if str, isStr := s.(string); isStr {
			v.scopes = strings.Fields(str)
		} else if v.scopes, ok = stringOrList(s); !ok {
			return nil, reasonInvalidClaims
		}
	}
	return v, ""
}

// numericDate reads a NumericDate claim: a finite JSON number.
func numericDate(claims map[string]any, name string) (val float64, present, ok bool) {
	x, present := claims[name]
	if !present {
		return 0, false, true
	}
	f, isNum := x.(float64)
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, true, false
	}
	return f, true, true
}

// stringOrList reads a claim that is a string or a list of strings.
func stringOrList(x any) ([]string, bool) {
	switch t := x.(type) {
	case nil:
		return nil, true
	case string:
		return []string{t}, true
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// claimChecks are a route's checks on a verified token. They run on every
// request, cached token or not, because the time moves and routes differ.
type claimChecks struct {
	leeway     float64 // seconds
	maxAge     float64 // seconds; 0 is no limit
	requireExp bool
	issuer     string
	audience   []string
	required   []requiredClaim
}

type requiredClaim struct{ name, value string }

// check returns "" when the token passes, or the failure reason.
func (cc *claimChecks) check(v *verified, now time.Time) string {
	t := float64(now.UnixNano()) / 1e9
	switch {
	case v.hasExp && t >= v.exp+cc.leeway:
		return reasonExpired
	case !v.hasExp && cc.requireExp:
		return reasonMissingExp
	case v.hasNbf && t+cc.leeway < v.nbf:
		return reasonNotYetValid
	case v.hasIat && t+cc.leeway < v.iat:
		return reasonIssuedInFuture
	}
	if cc.maxAge > 0 {
		if !v.hasIat {
			return reasonMissingIat
		}
		if t-v.iat > cc.maxAge+cc.leeway {
			return reasonTooOld
		}
	}
	if cc.issuer != "" && v.iss != cc.issuer {
		return reasonWrongIssuer
	}
	if len(cc.audience) > 0 && !anyIn(v.aud, cc.audience) {
		return reasonWrongAudience
	}
	for _, rc := range cc.required {
		if !claimHas(v.claims[rc.name], rc.value) {
			return reasonRequiredClaim
		}
	}
	return ""
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// claimHas reports whether a claim equals want: a string equal to it, a
// list holding it, or a number or boolean whose JSON text is want.
func claimHas(x any, want string) bool {
	switch t := x.(type) {
	case string:
		return t == want
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	case bool:
		return strconv.FormatBool(t) == want
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64) == want
	}
	return false
}

// claimHeaderValue renders a claim for a header toward the upstream:
// strings as they are, numbers and booleans as JSON text, lists of
// strings joined with commas. Anything else, or text with control
// characters (a header injection), gives ok false and no header.
func claimHeaderValue(x any) (string, bool) {
	var s string
	switch t := x.(type) {
	case string:
		s = t
	case bool:
		s = strconv.FormatBool(t)
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			p, ok := e.(string)
			if !ok {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, ",")
	default:
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return "", false
		}
	}
	return s, s != ""
}
