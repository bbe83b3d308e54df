package validate

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Reasons a signed request is refused: a fixed set, for logs and counters.
// They name the check, never the input.
const (
	ReasonMissingSignature   = "missing signature"
	ReasonMalformedSignature = "malformed signature"
	ReasonUnknownKey         = "unknown key"
	ReasonAlgorithmMismatch  = "algorithm mismatch"
	ReasonNotCovered         = "component not covered"
	ReasonSkew               = "clock skew"
	ReasonExpired            = "signature expired"
	ReasonNonceMissing       = "nonce missing"
	ReasonBadSignature       = "bad signature"
	ReasonDigestMissing      = "digest missing"
	ReasonDigestMismatch     = "digest mismatch"
	ReasonReplay             = "replay"
	ReasonReplayStoreFull    = "replay store full"
	ReasonReplayStoreDown    = "replay store unavailable"
	ReasonConsumerMismatch   = "consumer mismatch"
	ReasonBodyTooLarge       = "body too large"
	ReasonBodyUnreadable     = "body unreadable"
)

// Signature algorithms (RFC 9421 section 3.3, IANA names).
const (
	AlgHMACSHA256 = "hmac-sha256"
	AlgEd25519    = "ed25519"
)

// maxNonceLen bounds what a client can make the replay store hold.
const maxNonceLen = 256

// SignatureKey is one verification key, named by its keyid.
type SignatureKey struct {
	ID        string
	Algorithm string // AlgHMACSHA256 or AlgEd25519
	// Secret is the HMAC key (hmac-sha256).
	Secret []byte
	// Public is the Ed25519 public key (ed25519).
	Public ed25519.PublicKey
	// Consumer, when set, is the only consumer this key may sign for.
	Consumer string
}

// verifier checks RFC 9421 signatures on requests. It is immutable after
// construction and safe for concurrent use.
type verifier struct {
	keys         map[string]*SignatureKey
	required     []string // component names every signature must cover
	skew         time.Duration
	requireNonce bool
	now          func() time.Time
}

// signedInput is one parsed Signature-Input member.
type signedInput struct {
	label      string
	components []sfListItem
	params     sfParams
	created    int64
	hasCreated bool
	expires    int64
	hasExpires bool
	keyID      string
	alg        string
	nonce      string
	signature  []byte // the verified signature value (set by verifyOne)
}

// parseSignatureInput validates one Signature-Input member: an inner list
// of distinct, supported component identifiers with well-typed parameters.
func parseSignatureInput(m sfMember) (*signedInput, bool) {
	if !m.IsList {
		return nil, false
	}
	in := &signedInput{label: m.Key, components: m.List, params: m.Params}
	for i, c := range m.List {
		if c.Item.Kind != sfString || !validComponentName(c.Item.Str) {
			return nil, false
		}
		// A component may be listed once (section 2.5: a repeated
		// identifier, parameters included, makes the input invalid).
		for _, d := range m.List[:i] {
			if d.Item.Str == c.Item.Str && sameParams(d.Params, c.Params) {
				return nil, false
			}
		}
	}
	for _, p := range m.Params {
		v := p.Value
		switch p.Key {
		case "created", "expires":
			if v.Kind != sfInteger || v.Int < 0 {
				return nil, false
			}
			if p.Key == "created" {
				in.created, in.hasCreated = v.Int, true
			} else {
				in.expires, in.hasExpires = v.Int, true
			}
		case "keyid", "alg", "nonce", "tag":
			if v.Kind != sfString {
				return nil, false
			}
			switch p.Key {
			case "keyid":
				in.keyID = v.Str
			case "alg":
				in.alg = v.Str
			case "nonce":
				if len(v.Str) > maxNonceLen {
					return nil, false
				}
				in.nonce = v.Str
			}
		}
	}
	return in, true
}

func sameParams(a, b sfParams) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value.Kind != b[i].Value.Kind || a[i].Value.Str != b[i].Value.Str ||
			a[i].Value.Int != b[i].Value.Int || a[i].Value.Bool != b[i].Value.Bool || string(a[i].Value.Bytes) != string(b[i].Value.Bytes) {
			return false
		}
	}
	return true
}

// covers reports whether the signature covers the named component (in
// any serialization, e.g. a field signed with ;bs).
func (in *signedInput) covers(name string) bool {
	for _, c := range in.components {
		if c.Item.Str == name {
			return true
		}
	}
	return false
}

var basePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// verify checks the request's signatures. It returns the key and input of
// the first signature that passes every check, or the reason the first
// one failed.
func (v *verifier) verify(r *http.Request) (*SignatureKey, *signedInput, string) {
	inputs, sigs := r.Header["Signature-Input"], r.Header["Signature"]
	if len(inputs) == 0 || len(sigs) == 0 {
		return nil, nil, ReasonMissingSignature
	}
	inDict, err := parseSFDictionary(joinFieldLines(inputs))
	if err != nil {
		return nil, nil, ReasonMalformedSignature
	}
	sigDict, err := parseSFDictionary(joinFieldLines(sigs))
	if err != nil {
		return nil, nil, ReasonMalformedSignature
	}
	first := ""
	for _, m := range inDict {
		var sig *sfMember
		for i := range sigDict {
			if sigDict[i].Key == m.Key {
				sig = &sigDict[i]
				break
			}
		}
		if sig == nil {
			continue
		}
		key, in, reason := v.verifyOne(r, m, sig)
		if reason == "" {
			return key, in, ""
		}
		if first == "" {
			first = reason
		}
	}
	if first == "" {
		return nil, nil, ReasonMalformedSignature // no label has both fields
	}
	return nil, nil, first
}

func (v *verifier) verifyOne(r *http.Request, m sfMember, sig *sfMember) (*SignatureKey, *signedInput, string) {
	in, ok := parseSignatureInput(m)
	if !ok || sig.IsList || sig.Item.Kind != sfBytes {
		return nil, nil, ReasonMalformedSignature
	}
	key := v.keys[in.keyID]
	if key == nil {
		return nil, nil, ReasonUnknownKey
	}
	// The algorithm comes from the key; a different alg parameter is an
	// attempt to have the key used another way (section 3.2 step 6).
	if in.alg != "" && in.alg != key.Algorithm {
		return nil, nil, ReasonAlgorithmMismatch
	}
	for _, name := range v.required {
		if !in.covers(name) {
			return nil, nil, ReasonNotCovered
		}
	}
	now := v.now()
	if !in.hasCreated {
		return nil, nil, ReasonSkew
	}
	created := time.Unix(in.created, 0)
	if created.Before(now.Add(-v.skew)) || created.After(now.Add(v.skew)) {
		return nil, nil, ReasonSkew
	}
	if in.hasExpires && (in.expires < in.created || now.After(time.Unix(in.expires, 0))) {
		return nil, nil, ReasonExpired
	}
	if v.requireNonce && in.nonce == "" {
		return nil, nil, ReasonNonceMissing
	}

	bp := basePool.Get().(*[]byte)
	defer basePool.Put(bp)
	base, err := appendSignatureBase((*bp)[:0], r, in)
	*bp = base[:0]
	if err != nil {
		return nil, nil, ReasonBadSignature // a covered component is absent or unsupported
	}
	if !verifyBytes(key, base, sig.Item.Bytes) {
		return nil, nil, ReasonBadSignature
	}
	in.signature = sig.Item.Bytes
	return key, in, ""
}

// verifyBytes checks signature over base with key.
func verifyBytes(key *SignatureKey, base, signature []byte) bool {
	switch key.Algorithm {
	case AlgHMACSHA256:
		mac := hmac.New(sha256.New, key.Secret)
		mac.Write(base)
		var sum [sha256.Size]byte
		return hmac.Equal(mac.Sum(sum[:0]), signature)
	case AlgEd25519:
		return len(signature) == ed25519.SignatureSize && ed25519.Verify(key.Public, base, signature)
	}
	return false
}

// joinFieldLines combines field lines as RFC 9110 section 5.3 allows.
func joinFieldLines(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	return strings.Join(vs, ", ")
}
