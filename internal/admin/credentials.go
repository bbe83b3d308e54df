package admin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/validate"
)

// CredentialView is a credential as the API shows it. APIKey and Secret
// are set only in the answer that created them: the store keeps a digest
// of the key and a sealed secret, and no later answer repeats them.
type CredentialView struct {
	ID         string `json:"id"`
	Consumer   string `json:"consumer"`
	Kind       string `json:"kind"`
	Source     string `json:"source"`
	Version    int64  `json:"version"`
	CreatedAt  string `json:"created_at,omitempty"`
	UpdatedAt  string `json:"updated_at,omitempty"`
	Hash       string `json:"hash,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	NotAfter   string `json:"not_after,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	Key        string `json:"key,omitempty"`
	Algorithm  string `json:"algorithm,omitempty"`
	PublicKey  string `json:"public_key,omitempty"`
	HasSecret  bool   `json:"has_secret,omitempty"`
	Username   string `json:"username,omitempty"`
	Subject    string `json:"subject,omitempty"`
	SAN        string `json:"san,omitempty"`
	// FingerprintSHA256 identifies an mtls certificate.
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
	// APIKey is the generated key, in the creation answer only.
	APIKey string `json:"api_key,omitempty"`
	// Secret is a generated HMAC secret, in the creation answer only.
	Secret string `json:"secret,omitempty"`
}

func credentialView(c store.Credential) CredentialView {
	d := c.Data
	return CredentialView{ID: c.ID, Consumer: c.Consumer, Kind: c.Kind, Source: "store", Version: c.Version,
		CreatedAt: c.CreatedAt.Format(timeFormat), UpdatedAt: c.UpdatedAt.Format(timeFormat),
		Hash: d.Hash, Prefix: d.Prefix, ExpiresAt: d.ExpiresAt, NotAfter: d.NotAfter, ReplacedBy: d.ReplacedBy,
		Key: d.Key, Algorithm: d.Algorithm, PublicKey: d.PublicKey, HasSecret: len(c.Secret) > 0,
		Username: d.Username, Subject: d.Subject, SAN: d.SAN, FingerprintSHA256: d.FingerprintSHA256}
}

// fileCredentials lists a file consumer's credentials (never a secret).
func fileCredentials(c config.Consumer) []CredentialView {
	var out []CredentialView
	for _, k := range c.Credentials.APIKeys {
		out = append(out, CredentialView{ID: k.ID, Consumer: c.Name, Kind: store.KindAPIKey, Source: "file", Hash: k.Hash, ExpiresAt: k.ExpiresAt, NotAfter: k.NotAfter})
	}
	for _, j := range c.Credentials.JWT {
		out = append(out, CredentialView{ID: j.Key, Consumer: c.Name, Kind: store.KindJWT, Source: "file", Key: j.Key, Algorithm: j.Algorithm, HasSecret: j.Secret != ""})
	}
	for _, b := range c.Credentials.Basic {
		out = append(out, CredentialView{ID: b.Username, Consumer: c.Name, Kind: store.KindBasic, Source: "file", Username: b.Username})
	}
	for _, m := range c.Credentials.MTLS {
		out = append(out, CredentialView{ID: m.Subject + m.SAN + m.FingerprintSHA256, Consumer: c.Name, Kind: store.KindMTLS, Source: "file", Subject: m.Subject, SAN: m.SAN, FingerprintSHA256: m.FingerprintSHA256})
	}
	return out
}

func (s *Server) consumerCredentials(name string) ([]CredentialView, bool) {
	c, ok := s.findConsumer(name)
	if !ok {
		return nil, false
	}
	if c.Source == "file" {
		for _, fc := range s.rt.FileConfig().Consumers {
			if fc.Name == name {
				return fileCredentials(fc), true
			}
		}
	}
	var out []CredentialView
	if st := s.rt.State(); st != nil {
		for _, cr := range st.Credentials {
			if cr.Consumer == name {
				out = append(out, credentialView(cr))
			}
		}
	}
	return out, true
}

func (s *Server) listCredentials(q *request) (int, any) {
	q.queryNames = []string{"kind"}
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	kind := q.r.URL.Query().Get("kind")
	if kind != "" && !validKind(kind) {
		return 0, badField("query.kind", kindRule)
	}
	all, ok := s.consumerCredentials(q.r.PathValue("name"))
	if !ok {
		return 0, problem(http.StatusNotFound, "no such consumer", "path.name")
	}
	var items []CredentialView
	for _, c := range all {
		if kind == "" || c.Kind == kind {
			items = append(items, c)
		}
	}
	return http.StatusOK, paginate(items, func(c CredentialView) string { return c.ID }, limit, after)
}

func (s *Server) storeCredential(consumer, id string) (store.Credential, bool) {
	if st := s.rt.State(); st != nil {
		for _, c := range st.Credentials {
			if c.Consumer == consumer && c.ID == id {
				return c, true
			}
		}
	}
	return store.Credential{}, false
}

func (s *Server) getCredential(q *request) (int, any) {
	all, ok := s.consumerCredentials(q.r.PathValue("name"))
	if !ok {
		return 0, problem(http.StatusNotFound, "no such consumer", "path.name")
	}
	for _, c := range all {
		if c.ID == q.r.PathValue("id") {
			if c.Source == "store" {
				q.w.Header().Set("ETag", etag(c.Version))
			}
			return http.StatusOK, c
		}
	}
	return 0, problem(http.StatusNotFound, "no such credential", "path.id")
}

func validKind(k string) bool {
	switch k {
	case store.KindAPIKey, store.KindJWT, store.KindBasic, store.KindMTLS, store.KindSignatureKey:
		return true
	}
	return false
}

const kindRule = "kind must be api_key, jwt, basic, mtls or signature_key"

// credentialInput is the body of POST .../credentials. Which fields may be
// set depends on kind; any other is refused by name.
type credentialInput struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// api_key: a new key is generated unless hash imports an existing one.
	Prefix    string `json:"prefix"`
	Hash      string `json:"hash"`
	ExpiresAt string `json:"expires_at"`
	NotAfter  string `json:"not_after"`
	// jwt: an HMAC secret is generated unless given.
	Key       string `json:"key"`
	Algorithm string `json:"algorithm"`
	Secret    string `json:"secret"`
	PublicKey string `json:"public_key"`
	// basic: password is hashed with argon2id here and never stored.
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
	Password     string `json:"password"`
	// mtls
	Subject           string `json:"subject"`
	SAN               string `json:"san"`
	FingerprintSHA256 string `json:"fingerprint_sha256"`
}

var kindFields = map[string][]string{
	store.KindAPIKey: {"prefix", "hash", "expires_at", "not_after"},
	store.KindJWT:    {"key", "algorithm", "secret", "public_key"},
	store.KindBasic:  {"username", "password_hash", "password"},
	store.KindMTLS:   {"subject", "san", "fingerprint_sha256"},
	// signature_key: a key of signed requests (RFC 9421); an hmac-sha256
	// secret is generated unless given.
	store.KindSignatureKey: {"key", "algorithm", "secret", "public_key"},
}

func (in *credentialInput) set() map[string]string {
	return map[string]string{"prefix": in.Prefix, "hash": in.Hash, "expires_at": in.ExpiresAt, "not_after": in.NotAfter,
		"key": in.Key, "algorithm": in.Algorithm, "secret": in.Secret, "public_key": in.PublicKey,
		"username": in.Username, "password_hash": in.PasswordHash, "password": in.Password,
		"subject": in.Subject, "san": in.SAN, "fingerprint_sha256": in.FingerprintSHA256}
}

// randomID names a credential when the caller does not: kind and 8 random
// hex digits.
func randomID(kind string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ReplaceAll(kind, "_", "-") + "-" + hex.EncodeToString(b)
}

// build turns the input into a credential, generating what is asked for.
// It returns the one-time values for the answer.
func (in *credentialInput) build(consumer string) (c *store.Credential, key, secret string, p *Problem) {
	if in.Kind == "" {
		return nil, "", "", badField("kind", "kind is required: api_key, jwt, basic, mtls or signature_key")
	}
	if !validKind(in.Kind) {
		return nil, "", "", badField("kind", kindRule)
	}
	allowed := map[string]bool{}
	for _, f := range kindFields[in.Kind] {
		allowed[f] = true
	}
	for f, v := range in.set() {
		if v != "" && !allowed[f] {
			return nil, "", "", badField(f, "%s is not a field of a %s credential", f, in.Kind)
		}
	}
	if in.ID == "" {
		in.ID = randomID(in.Kind)
	}
	if !config.ValidName(in.ID) {
		return nil, "", "", badField("id", "id %s", config.NameRule())
	}
	c = &store.Credential{ID: in.ID, Consumer: consumer, Kind: in.Kind}
	d := &c.Data
	switch in.Kind {
	case store.KindAPIKey:
		for _, f := range []struct{ name, v string }{{"expires_at", in.ExpiresAt}, {"not_after", in.NotAfter}} {
			if f.v != "" {
				if _, err := time.Parse(time.RFC3339, f.v); err != nil {
					return nil, "", "", badField(f.name, "%s must be an RFC 3339 time such as 2027-01-01T00:00:00Z", f.name)
				}
			}
		}
		d.ExpiresAt, d.NotAfter = in.ExpiresAt, in.NotAfter
		if in.Hash != "" {
			if in.Prefix != "" {
				return nil, "", "", badField("prefix", "prefix is for generated keys; an imported hash has none")
			}
			dg, err := apikey.ParseDigest(in.Hash)
			if err != nil {
				return nil, "", "", badField("hash", "%v", err)
			}
			d.Hash = dg.String()
		} else {
			prefix, err := apikey.NormalizePrefix(in.Prefix)
			if err != nil {
				return nil, "", "", badField("prefix", "%v", err)
			}
			k, err := apikey.Generate(prefix)
			if err != nil {
				return nil, "", "", problem(http.StatusInternalServerError, "no key could be generated", "")
			}
			key, d.Hash, d.Prefix = k, apikey.Hash(k).String(), prefix
		}
		c.Lookup = d.Hash
	case store.KindJWT:
		if in.Algorithm == "" {
			return nil, "", "", badField("algorithm", "algorithm is required (%s)", config.JWTAlgorithmNames())
		}
		d.Key, d.Algorithm, d.PublicKey = in.Key, in.Algorithm, in.PublicKey
		if d.Key == "" {
			d.Key = in.ID
		}
		if config.IsHMACAlgorithm(in.Algorithm) {
			sec := in.Secret
			if sec == "" {
				b := make([]byte, 64)
				_, _ = rand.Read(b)
				sec = base64.RawURLEncoding.EncodeToString(b)
				secret = sec
			}
			c.Secret = []byte(sec)
		} else if in.Secret != "" {
			return nil, "", "", badField("secret", "secret is for %s; %s verifies with public_key", config.HMACAlgorithmNames(), in.Algorithm)
		}
		c.Lookup = d.Key
	case store.KindBasic:
		if in.Username == "" {
			return nil, "", "", badField("username", "username is required")
		}
		d.Username = in.Username
		switch {
		case in.Password != "" && in.PasswordHash != "":
			return nil, "", "", badField("password", "give password or password_hash, not both")
		case in.Password != "":
			if len(in.Password) < 12 || len(in.Password) > 1024 {
				return nil, "", "", badField("password", "a password is from 12 to 1024 bytes")
			}
			h, err := auth.HashPassword(auth.AlgorithmArgon2id, []byte(in.Password), 0)
			if err != nil {
				return nil, "", "", problem(http.StatusInternalServerError, "the password could not be hashed", "")
			}
			d.PasswordHash = h
		default:
			d.PasswordHash = in.PasswordHash
		}
		c.Lookup = d.Username
	case store.KindSignatureKey:
		d.Key, d.Algorithm, d.PublicKey = in.Key, in.Algorithm, in.PublicKey
		if d.Key == "" {
			d.Key = in.ID
		}
		var sec []byte
		switch {
		case in.Secret != "":
			sec = []byte(in.Secret)
		case in.Algorithm == validate.AlgHMACSHA256:
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			secret = base64.RawURLEncoding.EncodeToString(b) // its text is the key
			sec = []byte(secret)
		}
		// The same rules as a key in the signature policy's config.
		if _, err := validate.NewSignatureKey(d.Key, d.Algorithm, sec, d.PublicKey, consumer); err != nil {
			return nil, "", "", badField(signatureKeyField(err.Error()), "%v", err)
		}
		c.Secret = sec
		c.Lookup = d.Key
	case store.KindMTLS:
		d.Subject, d.SAN, d.FingerprintSHA256 = in.Subject, in.SAN, in.FingerprintSHA256
		switch {
		case d.FingerprintSHA256 != "":
			fp, ok := config.NormalizeFingerprint(d.FingerprintSHA256)
			if !ok {
				return nil, "", "", badField("fingerprint_sha256", "fingerprint_sha256 must be 64 hex digits, optionally as colon-separated pairs")
			}
			d.FingerprintSHA256 = fp
			c.Lookup = "fingerprint:" + fp
		case d.Subject != "":
			c.Lookup = "subject:" + d.Subject
		default:
			c.Lookup = "san:" + strings.ToLower(d.SAN)
		}
	}
	return c, key, secret, nil
}

// signatureKeyField names the input field a signature key error is about.
func signatureKeyField(msg string) string {
	fields := []string{"public_key", "secret", "algorithm"}
	for _, f := range fields {
		if strings.HasPrefix(msg, f) {
			return f
		}
	}
	for _, f := range fields {
		if strings.Contains(msg, " "+f) {
			return f
		}
	}
	return "key"
}

func (s *Server) createCredential(q *request) (int, any) {
	consumer := q.r.PathValue("name")
	var in credentialInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	cv, ok := s.findConsumer(consumer)
	if !ok {
		return 0, problem(http.StatusNotFound, "no such consumer", "path.name")
	}
	if p := s.writable(cv.Name); p != nil {
		return 0, p
	}
	c, key, secret, p := in.build(consumer)
	if p != nil {
		return 0, p
	}
	if p := s.checkCandidate(func(cs []store.Consumer, cr []store.Credential) ([]store.Consumer, []store.Credential) {
		return cs, append(cr, *c)
	}, "credential", consumer, -1); p != nil {
		return 0, p
	}
	if p := q.write(func(tx store.Tx) error { return tx.CreateCredential(c) }); p != nil {
		return 0, p
	}
	v := credentialView(*c)
	v.APIKey, v.Secret = key, secret
	q.w.Header().Set("ETag", etag(c.Version))
	q.w.Header().Set("Location", "/admin/consumers/"+consumer+"/credentials/"+c.ID)
	return http.StatusCreated, v
}

// deleteCredential revokes a credential: this node refuses it when the
// answer goes out, every other node within a second.
func (s *Server) deleteCredential(q *request) (int, any) {
	consumer, id := q.r.PathValue("name"), q.r.PathValue("id")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	if p := s.writable(consumer); p != nil {
		return 0, p
	}
	if p := q.writeAt("path.id", func(tx store.Tx) error { return tx.DeleteCredential(consumer, id, ifv) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}

// rotateInput is the body of POST .../rotate.
type rotateInput struct {
	// ID names the new key (default: generated).
	ID string `json:"id"`
	// Grace is how long the old key keeps working (default 24h, at most
	// 90 days; "0s" ends it at once).
	Grace     *string `json:"grace"`
	ExpiresAt string  `json:"expires_at"`
}

// RotateView is the answer of a rotation: the new key (with its value,
// shown this once) and the old one with its grace deadline.
type RotateView struct {
	New CredentialView `json:"new"`
	Old CredentialView `json:"old"`
}

const maxGrace = 90 * 24 * time.Hour

func (s *Server) rotateCredential(q *request) (int, any) {
	consumer, id := q.r.PathValue("name"), q.r.PathValue("id")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	var in rotateInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	grace := 24 * time.Hour
	if in.Grace != nil {
		g, err := time.ParseDuration(*in.Grace)
		if err != nil || g < 0 || g > maxGrace {
			return 0, badField("grace", "grace must be a duration from 0s to 2160h (90 days), such as 24h")
		}
		grace = g
	}
	if p := s.writable(consumer); p != nil {
		return 0, p
	}
	old, ok := s.storeCredential(consumer, id)
	if !ok {
		return 0, problem(http.StatusNotFound, "no such credential", "path.id")
	}
	if old.Kind != store.KindAPIKey {
		return 0, badField("path.id", "rotation issues a new API key: it is for api_key credentials (add a new %s credential, then delete the old one)", old.Kind)
	}
	newIn := credentialInput{Kind: store.KindAPIKey, ID: in.ID, Prefix: old.Data.Prefix, ExpiresAt: in.ExpiresAt}
	nc, key, _, p := newIn.build(consumer)
	if p != nil {
		return 0, p
	}
	deadline := time.Now().Add(grace).UTC().Truncate(time.Second)
	if cur, err := time.Parse(time.RFC3339, old.Data.NotAfter); err == nil && cur.Before(deadline) {
		deadline = cur
	}
	upd := old
	upd.Data.NotAfter = deadline.Format(time.RFC3339)
	upd.Data.ReplacedBy = nc.ID
	if p := s.checkCandidate(func(cs []store.Consumer, cr []store.Credential) ([]store.Consumer, []store.Credential) {
		for i := range cr {
			if cr[i].ID == old.ID {
				cr[i] = upd
			}
		}
		return cs, append(cr, *nc)
	}, "credential", consumer, -1); p != nil {
		return 0, p
	}
	if p := q.write(func(tx store.Tx) error {
		if err := tx.UpdateCredential(&upd, ifv); err != nil {
			return err
		}
		return tx.CreateCredential(nc)
	}); p != nil {
		return 0, p
	}
	nv := credentialView(*nc)
	nv.APIKey = key
	return http.StatusCreated, RotateView{New: nv, Old: credentialView(upd)}
}
