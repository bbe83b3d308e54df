package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Secrets at rest. A sealed secret reads
//
//	pcs1:<key id>:<base64url(nonce || AES-256-GCM ciphertext and tag)>
//
// where the key id is the first 8 bytes of SHA-256("portcullis master key
// id" || key), in hex: it tells which master key sealed the value (so a
// rotation can run while nodes hold both keys) and says nothing about the
// key. The additional data is the record's identity (AAD), so a
// ciphertext moved to another record, or to another field, fails to open.

const sealPrefix = "pcs1:"

// MasterKeyLen is the length of a master key: AES-256.
const MasterKeyLen = 32

// Keyring holds the current master key, which seals, and previous ones,
// which only open (during a rotation).
type Keyring struct {
	current *masterKey
	all     map[string]*masterKey
}

type masterKey struct {
	id   string
	aead cipher.AEAD
}

// ParseMasterKey reads a master key written as 64 hex digits or as the
// standard or URL base64 of 32 bytes. Errors never repeat the value.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*MasterKeyLen {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeyLen {
			return b, nil
		}
	}
	return nil, errors.New("a master key is 32 random bytes written as 64 hex digits or in base64 (for example: openssl rand -base64 32)")
}

// NewKeyring builds a keyring from the current key and previous keys (raw
// bytes). A nil current key makes a keyring that can open nothing and
// seals nothing (ErrNoMasterKey).
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	kr := &Keyring{all: map[string]*masterKey{}}
	if current == nil {
		if len(previous) > 0 {
			return nil, errors.New("previous master keys need a current master key")
		}
		return kr, nil
	}
	for i, raw := range append([][]byte{current}, previous...) {
		if len(raw) != MasterKeyLen {
			return nil, fmt.Errorf("a master key must be %d bytes", MasterKeyLen)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k := &masterKey{id: keyID(raw), aead: aead}
		if i == 0 {
			kr.current = k
		} else if k.id == kr.current.id {
			return nil, errors.New("a previous master key equals the current one")
		}
		kr.all[k.id] = k
	}
	return kr, nil
}

func keyID(raw []byte) string {
	h := sha256.New()
	h.Write([]byte("portcullis master key id"))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// CurrentID is the id of the sealing key ("" without one).
func (kr *Keyring) CurrentID() string {
	if kr == nil || kr.current == nil {
		return ""
	}
	return kr.current.id
}

// Seal encrypts plain under the current key with aad as additional data.
func (kr *Keyring) Seal(aad string, plain []byte) (string, error) {
	if kr == nil || kr.current == nil {
		return "", ErrNoMasterKey
	}
	k := kr.current
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	out := k.aead.Seal(nonce, nonce, plain, []byte(aad))
	return sealPrefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value for the record aad names. It reports which
// key sealed it, so a rotation knows what is left to reseal.
func (kr *Keyring) Open(aad, sealed string) (plain []byte, keyID string, err error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, "", errors.New("not a sealed secret")
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, "", errors.New("not a sealed secret")
	}
	if kr == nil {
		return nil, id, ErrNoMasterKey
	}
	k := kr.all[id]
	if k == nil {
		return nil, id, fmt.Errorf("sealed under master key %s, which is not configured", id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, id, errors.New("sealed secret is corrupt")
	}
	plain, err = k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], []byte(aad))
	if err != nil {
		return nil, id, errors.New("sealed secret does not open: wrong key, corrupt, or moved from another record")
	}
	return plain, id, nil
}

// credentialAAD is the additional data of a credential's secret: its
// identity, so the ciphertext is bound to this record and field.
func credentialAAD(id, kind, consumer string) string {
	return "portcullis/credential/" + kind + "/" + consumer + "/" + id + "/secret"
}

// secretAAD is the additional data of a named secret's value.
func secretAAD(name string) string {
	return "portcullis/secret/" + name + "/value"
}
