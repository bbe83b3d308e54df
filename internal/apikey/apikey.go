// Package apikey generates, checks and hashes Portcullis API keys. It is
// shared by the gateway's api_key method (which checks a presented key and
// looks it up by hash) and by `portcullis keys` (which makes them).
//
// A key reads as <prefix><payload><checksum>, for example
//
//		pcl_3TqVxF0...(43 characters)...kD81Zq
//
//	  - prefix: letters, digits and underscores ending in "_" (default
//	    "pcl_"), so people and secret scanners can tell what a string is;
//	  - payload: 256 bits from crypto/rand as exactly 43 base62 digits;
//	  - checksum: the CRC-32 (IEEE) of prefix+payload as exactly 6 base62
//	    digits, so a scanner can confirm a find without calling home and the
//	    gateway can refuse a mistyped or made-up key without a lookup.
//
// Keys are stored only as their SHA-256 digest ("sha256:<hex>"). A keyed
// hash (HMAC with a server secret) buys nothing for a key with 256 bits of
// entropy: nobody can precompute or brute-force such a digest, and a plain
// digest lets every gateway node check keys without sharing a secret.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"strings"
)

const (
	// DefaultPrefix starts every key unless another prefix is chosen.
	DefaultPrefix = "pcl_"
	// MaxPrefixLen bounds a prefix, its trailing "_" included.
	MaxPrefixLen = 32
	// EntropyBytes is the random part of a key: 256 bits.
	EntropyBytes = 32
	// PayloadLen is the number of base62 digits that hold 256 bits.
	PayloadLen = 43
	// ChecksumLen is the number of base62 digits that hold a CRC-32.
	ChecksumLen = 6
	// MaxLen is the longest string the gateway reads as a key; anything
	// longer is refused before it is hashed.
	MaxLen = 256
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors of Parse and Check. They never contain any part of the key.
var (
	// ErrFormat: the string does not have the shape of a Portcullis key.
	ErrFormat = errors.New("not a Portcullis API key")
	// ErrChecksum: the shape is right but the checksum does not match
	// (a typo, a truncated copy, or a made-up key).
	ErrChecksum = errors.New("API key checksum does not match")
)

// Parts are the pieces of a key, as substrings of it.
type Parts struct {
	Prefix   string // with its trailing "_"
	Payload  string
	Checksum string
}

// Parse splits key into its parts and verifies the checksum. It does not
// allocate, so the gateway can afford it on every request.
func Parse(key string) (Parts, error) {
	bodyLen := PayloadLen + ChecksumLen
	if len(key) < 2+bodyLen || len(key) > MaxPrefixLen+bodyLen {
		return Parts{}, ErrFormat
	}
	cut := len(key) - bodyLen
	p := Parts{Prefix: key[:cut], Payload: key[cut : cut+PayloadLen], Checksum: key[cut+PayloadLen:]}
	if !validPrefix(p.Prefix) {
		return Parts{}, ErrFormat
	}
	for i := cut; i < len(key); i++ {
		if digit(key[i]) < 0 {
			return Parts{}, ErrFormat
		}
	}
	if !checksumMatches(key[:cut+PayloadLen], p.Checksum) {
		return Parts{}, ErrChecksum
	}
	return p, nil
}

// Check reports whether key is a well-formed key with a valid checksum.
func Check(key string) error {
	_, err := Parse(key)
	return err
}

// NormalizePrefix validates a prefix chosen by an operator and adds the
// trailing "_" when it is missing: "pk_live" becomes "pk_live_".
func NormalizePrefix(prefix string) (string, error) {
	if prefix == "" {
		return DefaultPrefix, nil
	}
	if !strings.HasSuffix(prefix, "_") {
		prefix += "_"
	}
	if !validPrefix(prefix) {
		return "", fmt.Errorf("invalid key prefix: use 1 to %d letters, digits and underscores, starting with a letter", MaxPrefixLen-1)
	}
	return prefix, nil
}

// validPrefix: a letter, then letters, digits or "_", ending in "_".
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > MaxPrefixLen || p[len(p)-1] != '_' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case (c >= '0' && c <= '9') || c == '_':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Generate makes a new key with prefix ("" for the default) from
// crypto/rand.
func Generate(prefix string) (string, error) {
	return GenerateFrom(rand.Reader, prefix)
}

// GenerateFrom is Generate reading its entropy from r (for tests).
func GenerateFrom(r io.Reader, prefix string) (string, error) {
	prefix, err := NormalizePrefix(prefix)
	if err != nil {
		return "", err
	}
	var b [EntropyBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	body := prefix + encodeBig(new(big.Int).SetBytes(b[:]), PayloadLen)
	return body + encodeUint(crc(body), ChecksumLen), nil
}

// encodeBig writes n as exactly width base62 digits (most significant
// first, zero-padded).
func encodeBig(n *big.Int, width int) string {
	out := make([]byte, width)
	base := big.NewInt(int64(len(alphabet)))
	rem := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.QuoRem(n, base, rem)
		out[i] = alphabet[rem.Int64()]
	}
	return string(out)
}

func encodeUint(n uint32, width int) string {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out)
}

// checksumMatches compares the checksum digits with the CRC of body
// without building a string.
func checksumMatches(body, sum string) bool {
	n := crc(body)
	for i := len(sum) - 1; i >= 0; i-- {
		if digit(sum[i]) != int(n%62) {
			return false
		}
		n /= 62
	}
	return n == 0
}

// crc is crc32.ChecksumIEEE over a string, without converting it to a
// byte slice (which would allocate on every request).
func crc(s string) uint32 {
	c := ^uint32(0)
	for i := 0; i < len(s); i++ {
		c = crc32.IEEETable[byte(c)^s[i]] ^ (c >> 8) // #nosec G115 -- the low byte is wanted: table-driven CRC-32
	}
	return ^c
}

func digit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// Digest is the SHA-256 of a key: what the config stores and the gateway
// indexes keys by.
type Digest [sha256.Size]byte

// HashPrefix starts the text form of a Digest.
const HashPrefix = "sha256:"

// Hash returns the digest of key.
func Hash(key string) Digest {
	// Hashing through a stack buffer keeps the common case free of
	// allocations; keys longer than MaxLen are never looked up anyway.
	var buf [MaxLen]byte
	if len(key) <= len(buf) {
		n := copy(buf[:], key)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(key))
}

// String is the config form, "sha256:<64 lower-case hex digits>".
func (d Digest) String() string { return HashPrefix + hex.EncodeToString(d[:]) }

// ParseDigest reads the config form of a digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	h, ok := strings.CutPrefix(s, HashPrefix)
	if !ok {
		return d, errors.New(`hash must start with "sha256:"`)
	}
	if len(h) != 2*len(d) {
		return d, fmt.Errorf("hash must be %q followed by %d hex digits", HashPrefix, 2*len(d))
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, fmt.Errorf("hash must be %q followed by %d hex digits", HashPrefix, 2*len(d))
	}
	return d, nil
}
