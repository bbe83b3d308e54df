package validate

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
)

// Content-Digest (RFC 9530): a dictionary of algorithm -> byte sequence
// over the message content. The gateway knows sha-256 and sha-512, the two
// the IANA registry marks "Active"; other algorithms are ignored, and a
// field with none it knows cannot be checked and is refused.

var (
	errDigestMalformed = errors.New("malformed Content-Digest")
	errDigestNoKnown   = errors.New("Content-Digest has no supported algorithm")
	errDigestMismatch  = errors.New("Content-Digest does not match the content")
)

// verifyContentDigest checks every supported digest in the Content-Digest
// field value against body. It succeeds only when at least one supported
// digest is present and all the supported ones match.
func verifyContentDigest(field string, body []byte) error {
	members, err := parseSFDictionary(field)
	if err != nil {
		return errDigestMalformed
	}
	checked := 0
	for _, m := range members {
		var sum []byte
		switch m.Key {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		if m.IsList || m.Item.Kind != sfBytes {
			return errDigestMalformed
		}
		if subtle.ConstantTimeCompare(sum, m.Item.Bytes) != 1 {
			return errDigestMismatch
		}
		checked++
	}
	if checked == 0 {
		return errDigestNoKnown
	}
	return nil
}

// ContentDigest returns a Content-Digest field value for body with the
// given algorithm ("sha-256" or "sha-512"), for clients and tests.
func ContentDigest(alg string, body []byte) (string, error) {
	var sum []byte
	switch alg {
	case "sha-256":
		s := sha256.Sum256(body)
		sum = s[:]
	case "sha-512":
		s := sha512.Sum512(body)
		sum = s[:]
	default:
		return "", errors.New("unsupported digest algorithm " + alg)
	}
	b := append([]byte(alg), '=')
	return string(appendSFItem(b, sfItem{Kind: sfBytes, Bytes: sum})), nil
}
