package auth

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ttlmap"
)

// mtlsIndex maps certificate properties to consumer names. It is built
// once per snapshot from the consumers' mtls credentials.
type mtlsIndex struct {
	byFingerprint map[[32]byte]string
	bySubject     map[string]string
	// bySAN holds DNS names lower-cased (DNS is case-insensitive), e-mail
	// addresses and URIs exactly as written.
	bySAN map[string]string

	// seen remembers the lookup result per certificate fingerprint: the
	// same clients come back with the same certificates, and formatting a
	// subject or URI costs a dozen allocations. A ttlmap (bounded,
	// sharded; a full shard evicts one result at random) whose entries
	// never expire: a result holds for the snapshot the index belongs to.
	seen *ttlmap.Map[[32]byte, mtlsResult]
}

// mtlsResult is the outcome of a lookup for one certificate.
type mtlsResult struct {
	name      string // "" when unmapped
	credID    string // first 16 hex digits of the fingerprint
	ambiguous bool
}

const (
	// mtlsSeenMax bounds the memo of one snapshot.
	mtlsSeenMax = 4096
	// mtlsSeenShards spreads it over locks.
	mtlsSeenShards = 16
)

// mtlsIndexOf returns the snapshot's certificate index, building it once.
func mtlsIndexOf(env Env) (*mtlsIndex, error) {
	v, err := env.Snapshot.Get("auth.mtls.index", func() (any, error) {
		idx, errs := buildMTLSIndex(env.Consumers.Configs(), env.Config)
		if len(errs) > 0 {
			return nil, errs
		}
		return idx, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*mtlsIndex), nil
}

// buildMTLSIndex refuses credentials that are empty, set more than one
// property, carry a malformed fingerprint, or map the same certificate
// property to two consumers. cfg positions the errors (nil in unit tests).
func buildMTLSIndex(consumers []config.Consumer, cfg *config.Config) (*mtlsIndex, config.Errors) {
	idx := &mtlsIndex{byFingerprint: map[[32]byte]string{}, bySubject: map[string]string{}, bySAN: map[string]string{}, seen: ttlmap.New[[32]byte, mtlsResult](mtlsSeenMax, mtlsSeenShards, ttlmap.FirstByte)}
	var errs config.Errors
	fail := func(path, msg string) {
		if cfg != nil {
			errs = append(errs, cfg.ErrorAtPath(path, msg))
		} else {
			errs = append(errs, &config.FieldError{Path: path, Msg: msg})
		}
	}
	// add records key -> consumer, refusing a key already held by another
	// consumer (the same consumer listing it twice is harmless).
	add := func(m map[string]string, key, consumer, path, what string) {
		if prev, ok := m[key]; ok && prev != consumer {
			fail(path, fmt.Sprintf("this %s is already mapped to consumer %q", what, prev))
			return
		}
		m[key] = consumer
	}
	for i, c := range consumers {
		for j, cred := range c.Credentials.MTLS {
			base := fmt.Sprintf("consumers[%d].credentials.mtls[%d]", i, j)
			set := 0
			for _, s := range []string{cred.Subject, cred.SAN, cred.FingerprintSHA256} {
				if s != "" {
					set++
				}
			}
			if set != 1 {
				fail(base, "set exactly one of subject, san, fingerprint_sha256")
				continue
			}
			switch {
			case cred.FingerprintSHA256 != "":
				path := base + ".fingerprint_sha256"
				fp, err := mtlsParseFingerprint(cred.FingerprintSHA256)
				if err != nil {
					fail(path, err.Error())
					continue
				}
				if prev, ok := idx.byFingerprint[fp]; ok && prev != c.Name {
					fail(path, fmt.Sprintf("this fingerprint is already mapped to consumer %q", prev))
					continue
				}
				idx.byFingerprint[fp] = c.Name
			case cred.Subject != "":
				if strings.TrimSpace(cred.Subject) != cred.Subject {
					fail(base+".subject", "the subject has leading or trailing spaces; write it as the certificate's subject prints (CN=alice,O=Example)")
					continue
				}
				add(idx.bySubject, cred.Subject, c.Name, base+".subject", "subject")
			default:
				key, err := mtlsSANKey(cred.SAN)
				if err != nil {
					fail(base+".san", err.Error())
					continue
				}
				add(idx.bySAN, key, c.Name, base+".san", "SAN")
			}
		}
	}
	return idx, errs
}

// mtlsParseFingerprint reads a fingerprint by config's one rule
// (config.NormalizeFingerprint: 64 hex digits in either case, or 32
// colon-separated pairs as `openssl x509 -fingerprint -sha256` prints them).
func mtlsParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	h, ok := config.NormalizeFingerprint(s)
	if !ok {
		return fp, errors.New("a SHA-256 fingerprint is 64 hex digits, optionally as colon-separated pairs")
	}
	_, _ = hex.Decode(fp[:], []byte(h)) // 64 hex digits: cannot fail
	return fp, nil
}

// mtlsSANKey normalizes a configured SAN: a URI ("spiffe://...") or an e-mail
// address is kept exactly, anything else is a DNS name, lower-cased.
func mtlsSANKey(s string) (string, error) {
	if s != strings.TrimSpace(s) || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("a SAN contains no spaces")
	}
	if strings.Contains(s, ":") || strings.Contains(s, "@") {
		return s, nil
	}
	return mtlsDNSKey(s), nil
}

// mtlsDNSKey is the index form of a DNS name.
func mtlsDNSKey(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// resolve is lookup behind the per-certificate memo.
func (x *mtlsIndex) resolve(fp [32]byte, leaf *x509.Certificate) mtlsResult {
	if r, ok := x.seen.Get(&fp, 0); ok {
		return r
	}
	var r mtlsResult
	r.name, r.ambiguous = x.lookup(fp, leaf)
	r.credID = hex.EncodeToString(fp[:8])
	x.seen.Put(&fp, r, math.MaxInt64, 0) // never expires (0 is the memo's "now")
	return r
}
