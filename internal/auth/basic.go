package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// The basic method: "Authorization: Basic base64(user:password)" (RFC
// 7617) checked against the consumers' basic credentials, which hold only
// bcrypt or argon2id hashes. An unknown user costs the same hash check as
// a known one (against a dummy hash), so response times do not tell which
// usernames exist.

func init() { RegisterMethod("basic", compileBasic) }

// basicConfig is the method's config.
type basicConfig struct {
	// Realm is sent in the challenge (default "portcullis").
	Realm string `yaml:"realm,omitempty"`
	// CacheTTL is how long a successful check is remembered (default 1m,
	// at most 1h; 0s turns the cache off).
	CacheTTL *config.Duration `yaml:"cache_ttl,omitempty"`
	// ForwardCredentials sends the Authorization header on to the
	// upstream; by default the gateway removes it.
	ForwardCredentials bool `yaml:"forward_credentials,omitempty"`
}

// Reasons of the basic method (metrics labels: a fixed set).
const (
	basicReasonMalformed   = "malformed credentials"
	basicReasonUnknownUser = "unknown user"
	basicReasonWrongPass   = "wrong password"
	basicReasonCanceled    = "request ended before verification"
)

const (
	basicDefaultRealm = "portcullis"
	basicDefaultTTL   = time.Minute
	basicMaxTTL       = time.Hour
)

// basicVerifySlots bounds the hash checks running at once across the
// process: each one holds a core (and, for argon2id, megabytes of memory),
// so a flood of guesses queues here instead of exhausting the machine.
var basicVerifySlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

type basicMethod struct {
	challenge string
	ttl       time.Duration // 0: no cache
	forward   bool
	index     *basicIndex
	cache     *basicCache
	consumers *Consumers
	now       func() time.Time // for tests; nil means the request's start
}

// basicIndex maps usernames to credentials; built once per snapshot.
type basicIndex struct {
	byUser   map[string]*basicEntry
	dummy    passwordVerifier
	err      error
	reported atomic.Bool
}

type basicEntry struct {
	username, consumer, hash string
	verifier                 passwordVerifier
}

func compileBasic(d pipeline.Decoder, env Env) (Method, error) {
	var cfg basicConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	realm := cfg.Realm
	if realm == "" {
		realm = basicDefaultRealm
	}
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, errors.New(`realm: use printable ASCII without '"' or '\'`)
		}
	}
	m := &basicMethod{
		challenge: `Basic realm="` + realm + `", charset="UTF-8"`,
		ttl:       basicDefaultTTL,
		forward:   cfg.ForwardCredentials,
		consumers: env.Consumers,
	}
	if cfg.CacheTTL != nil {
		m.ttl = cfg.CacheTTL.D()
		if m.ttl < 0 || m.ttl > basicMaxTTL {
			return nil, fmt.Errorf("cache_ttl: must be from 0s (no cache) to %s", basicMaxTTL)
		}
	}
	if m.ttl > 0 {
		c, err := basicCacheOf(env.State)
		if err != nil {
			return nil, err
		}
		m.cache = c
	}
	v, err := env.Snapshot.Get("auth.basic.index", func() (any, error) {
		return buildBasicIndex(env.Config, env.Consumers.Configs())
	})
	if err != nil {
		return nil, err
	}
	m.index = v.(*basicIndex)
	if m.index.err != nil && !m.index.reported.Swap(true) {
		return nil, m.index.err
	}
	return m, nil
}

// buildBasicIndex indexes every consumer's basic credentials. Bad entries
// are left out and every problem is kept, to be reported once.
func buildBasicIndex(cfg *config.Config, consumers []config.Consumer) (*basicIndex, error) {
	idx := &basicIndex{byUser: map[string]*basicEntry{}}
	var errs config.Errors // every problem, so that one run lists them all
	fail := func(path, msg string) {
		errs = append(errs, cfg.ErrorAtPath(path, msg))
	}
	costs := map[string]int{}
	var common passwordVerifier
	for i, c := range consumers {
		for j, b := range c.Credentials.Basic {
			path := fmt.Sprintf("consumers[%d].credentials.basic[%d]", i, j)
			switch {
			case b.Username == "":
				fail(path+".username", "a basic credential needs a username")
				continue
			case strings.ContainsRune(b.Username, ':') || !utf8.ValidString(b.Username) || hasCTL(b.Username):
				fail(path+".username", "a username cannot contain ':' or control characters (RFC 7617)")
				continue
			case len(b.Username) > basicMaxCredentials/2:
				fail(path+".username", fmt.Sprintf("a username is at most %d bytes", basicMaxCredentials/2))
				continue
			case idx.byUser[b.Username] != nil:
				fail(path+".username", fmt.Sprintf("username %q is used twice", b.Username))
				continue
			}
			ver, err := parsePasswordHash(b.PasswordHash)
			if err != nil {
				fail(path+".password_hash", err.Error())
				continue
			}
			idx.byUser[b.Username] = &basicEntry{username: b.Username, consumer: c.Name, hash: b.PasswordHash, verifier: ver}
			p := ver.params()
			costs[p]++
			if common == nil || costs[p] > costs[common.params()] {
				common = ver
			}
		}
	}
	// The dummy costs what most credentials cost, so an unknown user takes
	// as long as a typical known one.
	if common == nil {
		common = argon2Verifier{memory: Argon2idMemoryKiB, time: Argon2idTime, threads: Argon2idThreads, salt: make([]byte, argon2idSaltLen), key: make([]byte, argon2idKeyLen)}
	}
	dummy, err := common.dummy()
	if err != nil {
		return nil, fmt.Errorf("basic: %w", err)
	}
	idx.dummy = dummy
	idx.err = errs.Err()
	return idx, nil
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func (m *basicMethod) Name() string      { return "basic" }
func (m *basicMethod) Challenge() string { return m.challenge }

func (m *basicMethod) Authenticate(c *pipeline.Context) (*pipeline.Identity, error) {
	var buf [basicMaxCredentials + 3]byte
	user, pass, err := parseBasicAuth(c.Request.Header, &buf)
	if err != nil {
		if errors.Is(err, ErrNoCredentials) {
			return nil, err
		}
		return nil, m.fail(basicReasonMalformed)
	}
	now := c.Start
	if m.now != nil {
		now = m.now()
	} else if now.IsZero() {
		now = time.Now()
	}
	e := m.index.byUser[string(user)]
	var key [32]byte
	if m.cache != nil && e != nil {
		key = m.cache.key(user, pass)
		if m.cache.hit(&key, e.hash, now.UnixNano()) {
			return m.accept(c, e)
		}
	}
	ver := m.index.dummy
	if e != nil {
		ver = e.verifier
	}
	select {
	case basicVerifySlots <- struct{}{}:
	case <-c.Request.Context().Done():
		return nil, m.fail(basicReasonCanceled)
	}
	// A copy, so that the credentials buffer can stay on the stack on
	// the cached path (this path spends milliseconds hashing anyway).
	ok := ver.verify(append([]byte(nil), pass...))
	<-basicVerifySlots
	switch {
	case e == nil:
		return nil, m.fail(basicReasonUnknownUser)
	case !ok:
		return nil, m.fail(basicReasonWrongPass)
	}
	if m.cache != nil {
		m.cache.put(&key, e.hash, now.Add(m.ttl).UnixNano(), now.UnixNano())
	}
	return m.accept(c, e)
}

func (m *basicMethod) accept(c *pipeline.Context, e *basicEntry) (*pipeline.Identity, error) {
	id := m.consumers.Identity(e.consumer, e.username, "basic")
	if id == nil {
		return nil, m.fail(basicReasonUnknownUser)
	}
	return id, nil
}

// credentials: "Authorization: Basic"; the policy strips it unless
// forward_credentials (credentials.go).
func (m *basicMethod) credentials() ([]credentialLocation, bool) {
	return []credentialLocation{{header: "Authorization", scheme: "Basic"}}, m.forward
}

func (m *basicMethod) fail(reason string) *Failure {
	return &Failure{Reason: reason, Challenge: m.challenge}
}

var errBasicMalformed = errors.New(basicReasonMalformed)

// parseBasicAuth reads "Authorization: Basic <base64(user:password)>"
// into buf. No Basic credentials is ErrNoCredentials; several Authorization
// headers of which one is Basic, bad base64, no colon, an empty user,
// control characters or invalid UTF-8 are malformed.
func parseBasicAuth(h http.Header, buf *[basicMaxCredentials + 3]byte) (user, pass []byte, err error) {
	vals := h["Authorization"]
	enc, found := "", false
	for _, v := range vals {
		if s, ok := cutKeyScheme(v, "Basic"); ok {
			if found || len(vals) > 1 {
				return nil, nil, errBasicMalformed
			}
			enc, found = s, true
		}
	}
	if !found {
		return nil, nil, ErrNoCredentials
	}
	if enc == "" || len(enc) > base64.StdEncoding.EncodedLen(basicMaxCredentials) {
		return nil, nil, errBasicMalformed
	}
	encoding := base64.StdEncoding
	if len(enc)%4 != 0 {
		encoding = base64.RawStdEncoding // some clients drop the padding
	}
	var src [4 * (basicMaxCredentials + 2) / 3]byte // copying avoids a heap []byte(enc)
	n, derr := encoding.Decode(buf[:], src[:copy(src[:], enc)])
	if derr != nil || n > basicMaxCredentials {
		return nil, nil, errBasicMalformed
	}
	dec := buf[:n]
	i := 0
	for i < len(dec) && dec[i] != ':' {
		i++
	}
	if i == 0 || i == len(dec) || !utf8.Valid(dec) {
		return nil, nil, errBasicMalformed
	}
	for _, b := range dec {
		if b < 0x20 || b == 0x7f {
			return nil, nil, errBasicMalformed
		}
	}
	return dec[:i], dec[i+1:], nil
}
