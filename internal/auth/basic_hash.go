package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hashes for Basic credentials: bcrypt ("$2a$", "$2b$", "$2y$")
// or argon2id in the PHC string format
// ("$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>", salt and
// hash in unpadded standard base64). Plain or weaker hashes are refused.

// Password hashing algorithms of HashPassword.
const (
	AlgorithmArgon2id = "argon2id"
	AlgorithmBcrypt   = "bcrypt"
)

// Default argon2id parameters: the OWASP recommendation of 19 MiB, two
// passes, one lane (about 20-30 ms per check on a server core).
const (
	Argon2idMemoryKiB = 19 * 1024
	Argon2idTime      = 2
	Argon2idThreads   = 1
	argon2idSaltLen   = 16
	argon2idKeyLen    = 32
)

// Bounds on the parameters of a configured argon2id hash: a hash asking
// for gigabytes per check would let each request exhaust the machine.
const (
	maxArgon2Memory = 1 << 20 // KiB: 1 GiB
	maxArgon2Time   = 64
	maxBcryptCost   = 15
)

// bcryptMaxPassword is bcrypt's input limit; longer passwords are refused
// rather than silently truncated.
const bcryptMaxPassword = 72

// passwordVerifier checks a password against one stored hash, in time
// that does not depend on where the password differs.
type passwordVerifier interface {
	verify(password []byte) bool
	// params names the algorithm and cost, for the dummy verifier.
	params() string
	// dummy returns a verifier with the same cost that no password matches.
	dummy() (passwordVerifier, error)
}

// parsePasswordHash reads a configured password hash.
func parsePasswordHash(s string) (passwordVerifier, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil {
			return nil, errors.New("not a valid bcrypt hash")
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is above %d: each request would spend seconds hashing", cost, maxBcryptCost)
		}
		return bcryptVerifier{hash: []byte(s), cost: cost}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return nil, errors.New("only argon2id is accepted among the argon2 variants")
	}
	return nil, errors.New(`not a bcrypt or argon2id hash (print one with "portcullis hash-password")`)
}

type bcryptVerifier struct {
	hash []byte
	cost int
}

func (v bcryptVerifier) verify(pw []byte) bool {
	return len(pw) <= bcryptMaxPassword && bcrypt.CompareHashAndPassword(v.hash, pw) == nil
}

func (v bcryptVerifier) params() string { return "bcrypt:" + strconv.Itoa(v.cost) }

func (v bcryptVerifier) dummy() (passwordVerifier, error) {
	var pw [32]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword(pw[:], v.cost)
	if err != nil {
		return nil, fmt.Errorf("make dummy bcrypt hash: %w", err)
	}
	return bcryptVerifier{hash: h, cost: v.cost}, nil
}

type argon2Verifier struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (v argon2Verifier) verify(pw []byte) bool {
	got := argon2.IDKey(pw, v.salt, v.time, v.memory, v.threads, uint32(len(v.key))) // #nosec G115 -- the key length is at most 128 (checked at parse)
	return subtle.ConstantTimeCompare(got, v.key) == 1
}

func (v argon2Verifier) params() string {
	return fmt.Sprintf("argon2id:m=%d,t=%d,p=%d,l=%d", v.memory, v.time, v.threads, len(v.key))
}

// dummy needs no hashing: random salt and key make a verifier that costs
// the same and matches nothing.
func (v argon2Verifier) dummy() (passwordVerifier, error) {
	d := v
	d.salt, d.key = make([]byte, len(v.salt)), make([]byte, len(v.key))
	if _, err := rand.Read(d.salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(d.key); err != nil {
		return nil, err
	}
	return d, nil
}

var errArgon2Format = errors.New(`not a valid argon2id hash: expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`)

// parseArgon2id reads the PHC string form of an argon2id hash.
func parseArgon2id(s string) (argon2Verifier, error) {
	var v argon2Verifier
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return v, errArgon2Format
	}
	if parts[2] != "v=19" {
		return v, errors.New("argon2id hash: only version 19 (v=19) is supported")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return v, errArgon2Format
	}
	m, okM := phcUint(params[0], "m=", 32)
	t, okT := phcUint(params[1], "t=", 32)
	p, okP := phcUint(params[2], "p=", 8)
	if !okM || !okT || !okP {
		return v, errArgon2Format
	}
	if m < 8*p || m > maxArgon2Memory || t < 1 || t > maxArgon2Time || p < 1 {
		return v, fmt.Errorf("argon2id hash: parameters out of range (m from 8*p to %d KiB, t from 1 to %d, p from 1 to 255)", maxArgon2Memory, maxArgon2Time)
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return v, errArgon2Format
	}
	if len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 128 {
		return v, errors.New("argon2id hash: the salt must be 8 to 64 bytes and the hash 16 to 128 bytes")
	}
	return argon2Verifier{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil // #nosec G115 -- phcUint parsed each within its bit size
}

func phcUint(s, name string, bits int) (uint64, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, bits)
	return n, err == nil
}

// HashPassword hashes a password for a Basic credential. bcryptCost 0
// means bcrypt.DefaultCost.
func HashPassword(algorithm string, password []byte, bcryptCost int) (string, error) {
	if len(password) == 0 {
		return "", errors.New("the password is empty")
	}
	switch algorithm {
	case AlgorithmArgon2id, "":
		salt := make([]byte, argon2idSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("read random salt: %w", err)
		}
		key := argon2.IDKey(password, salt, Argon2idTime, Argon2idMemoryKiB, Argon2idThreads, argon2idKeyLen)
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, Argon2idMemoryKiB, Argon2idTime, Argon2idThreads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
	case AlgorithmBcrypt:
		if len(password) > bcryptMaxPassword {
			return "", fmt.Errorf("bcrypt takes at most %d bytes of password; use argon2id for longer ones", bcryptMaxPassword)
		}
		if bcryptCost == 0 {
			bcryptCost = bcrypt.DefaultCost
		}
		// The loader refuses a cost above maxBcryptCost (parsePasswordHash):
		// never print a hash it would refuse.
		if bcryptCost < bcrypt.MinCost || bcryptCost > maxBcryptCost {
			return "", fmt.Errorf("bcrypt cost must be from %d to %d", bcrypt.MinCost, maxBcryptCost)
		}
		h, err := bcrypt.GenerateFromPassword(password, bcryptCost)
		if err != nil {
			return "", fmt.Errorf("bcrypt: %w", err)
		}
		return string(h), nil
	}
	return "", fmt.Errorf("unknown algorithm %q (use %s or %s)", algorithm, AlgorithmArgon2id, AlgorithmBcrypt)
}
