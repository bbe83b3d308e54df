package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Cheap hashes keep the tests fast; the code paths are the same.
func basicTestHashes(t testing.TB) (bcryptHash, argonHash string) {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret-b"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := HashPassword(AlgorithmArgon2id, []byte("s3cret-a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), a
}

func basicConsumers(bh, ah string) string {
	return fmt.Sprintf(`  - name: carol
    groups: [finance]
    credentials:
      basic:
        - {username: carol, password_hash: %q}
  - name: dave
    credentials:
      basic:
        - {username: "dävé", password_hash: %q}
`, bh, ah)
}

func basicReq(user, pass string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r
}

func TestBasicAcceptsBcryptAndArgon2id(t *testing.T) {
	bh, ah := basicTestHashes(t)
	p := akMustCompile(t, akConfig(t, basicConsumers(bh, ah), "          - basic: {cache_ttl: 0s}"), pipeline.NewSharedValues())
	for _, tc := range []struct{ user, pass, consumer string }{{"carol", "s3cret-b", "carol"}, {"dävé", "s3cret-a", "dave"}} {
		r := basicReq(tc.user, tc.pass)
		reason, c := akReason(p, r)
		if reason != "" {
			t.Fatalf("%s: %s", tc.user, reason)
		}
		if id := c.Identity; id.Consumer != tc.consumer || id.CredentialID != tc.user || id.Method != "basic" {
			t.Errorf("identity %+v", id)
		}
		if r.Header.Get("Authorization") != "" {
			t.Error("credentials forwarded")
		}
	}
	if c := pCtx(p, basicReq("carol", "s3cret-b")); strings.Join(c.Identity.Groups, ",") != "finance" {
		t.Errorf("groups %v", c.Identity.Groups)
	}
}

func pCtx(p *policy, r *http.Request) *pipeline.Context {
	_, c := akReason(p, r)
	return c
}

func TestBasicRefusals(t *testing.T) {
	bh, ah := basicTestHashes(t)
	p := akMustCompile(t, akConfig(t, basicConsumers(bh, ah), `          - basic: {realm: "orders api"}`), pipeline.NewSharedValues())
	raw := func(v string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", v)
		return r
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"none", httptest.NewRequest("GET", "/", nil), "missing credentials"},
		{"bearer", raw("Bearer abc"), "missing credentials"},
		{"wrong password", basicReq("carol", "nope"), "basic: wrong password"},
		{"wrong argon2id password", basicReq("dävé", "s3cret-b"), "basic: wrong password"},
		{"unknown user", basicReq("mallory", "s3cret-b"), "basic: unknown user"},
		{"not base64", raw("Basic !!!"), "basic: malformed credentials"},
		{"no colon", raw("Basic " + b64("carol")), "basic: malformed credentials"},
		{"empty user", raw("Basic " + b64(":s3cret-b")), "basic: malformed credentials"},
		{"empty", raw("Basic "), "basic: malformed credentials"},
		{"control char", raw("Basic " + b64("carol:s3cret\x00-b")), "basic: malformed credentials"},
		{"bad utf-8", raw("Basic " + b64("carol:\xff")), "basic: malformed credentials"},
		{"too long", raw("Basic " + b64("carol:"+strings.Repeat("x", 600))), "basic: malformed credentials"},
	}
	for _, tc := range cases {
		reason, c := akReason(p, tc.r)
		if reason != tc.want || c.Identity != nil {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.want)
		}
		prob := p.Handle(akContext(tc.r))
		if prob == nil || prob.Status != 401 || prob.Header["Www-Authenticate"][0] != `Basic realm="orders api", charset="UTF-8"` {
			t.Errorf("%s: problem %+v", tc.name, prob)
		}
	}
	// Two Authorization headers, one of them Basic: ambiguous.
	r := basicReq("carol", "s3cret-b")
	r.Header.Add("Authorization", "Bearer x")
	if reason, _ := akReason(p, r); reason != "basic: malformed credentials" {
		t.Errorf("two Authorization headers: %q", reason)
	}
	// Unpadded base64 is accepted.
	r = raw("basic " + base64.RawStdEncoding.EncodeToString([]byte("carol:s3cret-b")))
	if reason, _ := akReason(p, r); reason != "" {
		t.Errorf("unpadded: %q", reason)
	}
}

func TestBasicCache(t *testing.T) {
	bh, ah := basicTestHashes(t)
	state := pipeline.NewSharedValues()
	cfg := akConfig(t, basicConsumers(bh, ah), "          - basic: {cache_ttl: 30s}")
	p := akMustCompile(t, cfg, state)
	m := p.methods[0].(*basicMethod)
	now := time.Now()
	m.now = func() time.Time { return now }
	cache, _ := basicCacheOf(state)
	if reason, _ := akReason(p, basicReq("carol", "s3cret-b")); reason != "" || cache.len() != 1 {
		t.Fatalf("first: %q, cache %d", reason, cache.len())
	}
	// A hit needs no hash check: prove it by breaking the verifier.
	e := m.index.byUser["carol"]
	real := e.verifier
	e.verifier = bcryptVerifier{hash: []byte("broken")}
	if reason, _ := akReason(p, basicReq("carol", "s3cret-b")); reason != "" {
		t.Fatalf("cached: %q", reason)
	}
	// Wrong passwords are never served from the cache.
	if reason, _ := akReason(p, basicReq("carol", "s3cret-x")); reason != "basic: wrong password" {
		t.Fatalf("wrong password: %q", reason)
	}
	// After the TTL the entry is gone.
	now = now.Add(31 * time.Second)
	if reason, _ := akReason(p, basicReq("carol", "s3cret-b")); reason != "basic: wrong password" {
		t.Fatalf("expired entry still used: %q", reason)
	}
	e.verifier = real
	if reason, _ := akReason(p, basicReq("carol", "s3cret-b")); reason != "" {
		t.Fatal(reason)
	}
	// A reload with a new hash for carol: the old entry no longer counts.
	bh2, _ := bcrypt.GenerateFromPassword([]byte("new-pass"), bcrypt.MinCost)
	cfg.Consumers[0].Credentials.Basic[0].PasswordHash = string(bh2)
	p2 := akMustCompile(t, cfg, state)
	if reason, _ := akReason(p2, basicReq("carol", "s3cret-b")); reason != "basic: wrong password" {
		t.Fatalf("old password after change: %q", reason)
	}
	if reason, _ := akReason(p2, basicReq("carol", "new-pass")); reason != "" {
		t.Fatalf("new password: %q", reason)
	}
}

func TestBasicCacheIsBounded(t *testing.T) {
	c, _ := basicCacheOf(pipeline.NewSharedValues())
	now := time.Now().UnixNano()
	for i := range basicCacheCapacity + 500 {
		k := c.key([]byte("u"), fmt.Appendf(nil, "p%d", i))
		c.put(&k, "h", now+int64(time.Minute), now)
	}
	if n := c.len(); n > basicCacheCapacity {
		t.Fatalf("cache holds %d entries, cap %d", n, basicCacheCapacity)
	}
	// The key depends on the process secret, user and password.
	c2, _ := basicCacheOf(pipeline.NewSharedValues())
	if c.key([]byte("u"), []byte("p")) == c2.key([]byte("u"), []byte("p")) {
		t.Fatal("two caches share a secret")
	}
	if c.key([]byte("u:"), []byte("p")) == c.key([]byte("u"), []byte(":p")) {
		t.Log("user 'u:' cannot exist (colon refused), so this collision is harmless")
	}
}

func TestBasicUnknownUserSpendsAHashCheck(t *testing.T) {
	bh, ah := basicTestHashes(t)
	p := akMustCompile(t, akConfig(t, basicConsumers(bh, ah), "          - basic: {cache_ttl: 0s}"), pipeline.NewSharedValues())
	m := p.methods[0].(*basicMethod)
	// The dummy has the parameters most credentials use and matches nothing.
	if m.index.dummy == nil || m.index.dummy.verify([]byte("s3cret-b")) || m.index.dummy.verify([]byte("s3cret-a")) {
		t.Fatal("dummy verifier missing or matching")
	}
	calls := 0
	m.index.dummy = countingVerifier{&calls}
	if reason, _ := akReason(p, basicReq("mallory", "x")); reason != "basic: unknown user" || calls != 1 {
		t.Fatalf("unknown user: %q, dummy checks %d", reason, calls)
	}
}

type countingVerifier struct{ n *int }

func (v countingVerifier) verify([]byte) bool               { *v.n++; return false }
func (v countingVerifier) params() string                   { return "count" }
func (v countingVerifier) dummy() (passwordVerifier, error) { return v, nil }

func TestBasicCanceledWhileWaiting(t *testing.T) {
	bh, ah := basicTestHashes(t)
	p := akMustCompile(t, akConfig(t, basicConsumers(bh, ah), "          - basic: {cache_ttl: 0s}"), pipeline.NewSharedValues())
	// Fill every verification slot, then send a request whose context is
	// already done: it must give up instead of waiting.
	for range cap(basicVerifySlots) {
		basicVerifySlots <- struct{}{}
	}
	defer func() {
		for range cap(basicVerifySlots) {
			<-basicVerifySlots
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := basicReq("carol", "s3cret-b").WithContext(ctx)
	if reason, _ := akReason(p, r); reason != "basic: "+basicReasonCanceled {
		t.Fatalf("reason %q", reason)
	}
}

func TestBasicCompileErrors(t *testing.T) {
	bh, ah := basicTestHashes(t)
	cases := []struct {
		name, method, want string
		mutate             func(*config.Config)
	}{
		{"bad realm", `          - basic: {realm: "a\"b"}`, "realm", nil},
		{"ttl too long", `          - basic: {cache_ttl: 2h}`, "cache_ttl", nil},
		{"plain password", "          - basic: {}", "basic[0].password_hash: not a bcrypt or argon2id hash", func(c *config.Config) {
			c.Consumers[0].Credentials.Basic[0].PasswordHash = "hunter2"
		}},
		{"argon2i", "          - basic: {}", "only argon2id", func(c *config.Config) {
			c.Consumers[0].Credentials.Basic[0].PasswordHash = "$argon2i$v=19$m=16,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
		}},
		{"huge argon2 memory", "          - basic: {}", "out of range", func(c *config.Config) {
			c.Consumers[0].Credentials.Basic[0].PasswordHash = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
		}},
		{"huge bcrypt cost", "          - basic: {}", "bcrypt cost", func(c *config.Config) {
			c.Consumers[0].Credentials.Basic[0].PasswordHash = "$2a$20$" + bh[7:]
		}},
		{"duplicate user", "          - basic: {}", "used twice", func(c *config.Config) {
			c.Consumers[1].Credentials.Basic[0].Username = "carol"
		}},
		{"colon in user", "          - basic: {}", "cannot contain ':'", func(c *config.Config) {
			c.Consumers[0].Credentials.Basic[0].Username = "a:b"
		}},
	}
	for _, tc := range cases {
		cfg := akConfig(t, basicConsumers(bh, ah), tc.method)
		if tc.mutate != nil {
			tc.mutate(cfg)
		}
		_, err := akCompile(t, cfg, pipeline.NewSharedValues())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), bh[10:]) || strings.Contains(err.Error(), "hunter2")) {
			t.Errorf("%s: the error prints the hash", tc.name)
		}
	}
}

func TestParseArgon2id(t *testing.T) {
	good, err := HashPassword(AlgorithmArgon2id, []byte("pw"), 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseArgon2id(good)
	if err != nil || !v.verify([]byte("pw")) || v.verify([]byte("pX")) {
		t.Fatalf("round trip: %v", err)
	}
	if v.memory != Argon2idMemoryKiB || v.time != Argon2idTime || v.threads != Argon2idThreads {
		t.Fatalf("params %+v", v)
	}
	parts := strings.Split(good, "$")
	for _, bad := range []string{
		"$argon2id$v=16$" + strings.Join(parts[3:], "$"),
		"$argon2id$v=19$m=19456,t=2$" + strings.Join(parts[4:], "$"),
		"$argon2id$v=19$t=2,m=19456,p=1$" + strings.Join(parts[4:], "$"),
		"$argon2id$v=19$m=019456,t=2,p=1$" + strings.Join(parts[4:], "$"),
		"$argon2id$v=19$m=19456,t=0,p=1$" + strings.Join(parts[4:], "$"),
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "=$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + parts[5],
		good + "$",
	} {
		if _, err := parseArgon2id(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword(AlgorithmBcrypt, []byte("pw"), bcrypt.MinCost)
	if err != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")) != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	for _, tc := range []struct {
		alg  string
		pw   string
		cost int
	}{{AlgorithmBcrypt, strings.Repeat("x", 73), 4}, {AlgorithmBcrypt, "pw", 3}, {AlgorithmBcrypt, "pw", maxBcryptCost + 1}, {"md5", "pw", 0}, {AlgorithmArgon2id, "", 0}} {
		if _, err := HashPassword(tc.alg, []byte(tc.pw), tc.cost); err == nil {
			t.Errorf("HashPassword(%s, len %d, cost %d) accepted", tc.alg, len(tc.pw), tc.cost)
		}
	}
}

// FuzzParseBasicAuth: its seed corpus is in testdata/fuzz/FuzzParseBasicAuth.
func FuzzParseBasicAuth(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		var buf [basicMaxCredentials + 3]byte
		user, pass, err := parseBasicAuth(http.Header{"Authorization": {v}}, &buf)
		if err != nil {
			return
		}
		if len(user) == 0 || strings.ContainsRune(string(user), ':') || hasCTL(string(user)) || hasCTL(string(pass)) {
			t.Fatalf("accepted user %q pass %q from %q", user, pass, v)
		}
		if len(user)+1+len(pass) > basicMaxCredentials {
			t.Fatal("over the size limit")
		}
	})
}

// FuzzPasswordHashRoundTrip: what HashPassword (and so `portcullis
// hash-password`) prints, the loader accepts, and the verifier it builds
// accepts exactly that password: not a longer, shorter or changed one, and
// the dummy verifier of the same cost accepts nothing. A refusal is for a
// documented reason only. bcrypt costs 0 (the default, 10) and 6 to 15
// are folded to 4 and 5 so that each input costs milliseconds; costs
// above 15 are refused before any hashing. argon2id always runs with the
// parameters HashPassword prints (19 MiB, 2 passes): its inputs are slow. The seed corpus is in testdata/fuzz/FuzzPasswordHashRoundTrip.
func FuzzPasswordHashRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, password []byte, useBcrypt bool, cost uint8) {
		alg, c := AlgorithmArgon2id, 0
		if useBcrypt {
			alg, c = AlgorithmBcrypt, int(cost)
			if c == 0 || c >= 6 && c <= maxBcryptCost {
				c = 4 + c%2
			}
		}
		h, err := HashPassword(alg, password, c)
		if err != nil {
			tooLong := useBcrypt && len(password) > bcryptMaxPassword
			badCost := useBcrypt && c != 0 && (c < bcrypt.MinCost || c > maxBcryptCost)
			if len(password) != 0 && !tooLong && !badCost {
				t.Fatalf("HashPassword(%s, %d bytes, cost %d) refused: %v", alg, len(password), c, err)
			}
			return
		}
		v, err := parsePasswordHash(h)
		if err != nil {
			t.Fatalf("the loader refuses what HashPassword printed (%s): %v", h, err)
		}
		if !v.verify(password) {
			t.Fatalf("the hash does not verify its own password (%s)", h)
		}
		others := [][]byte{xorFirst(password)}
		if useBcrypt { // bcrypt reads at most 72 bytes: a longer or shorter password must not pass
			others = append(others, append(slices.Clip(password), 'x'), password[:len(password)-1])
		}
		for _, other := range others {
			if v.verify(other) {
				t.Fatalf("the hash of %q verifies %q", password, other)
			}
		}
		d, err := v.dummy()
		if err != nil {
			t.Fatal(err)
		}
		if d.verify(password) || d.params() != v.params() {
			t.Fatalf("dummy verifier %s (of %s) accepts the password or costs differently", d.params(), v.params())
		}
	})
}

func xorFirst(b []byte) []byte {
	c := slices.Clone(b)
	c[0] ^= 1
	return c
}

// FuzzParsePasswordHash: its seed corpus is in testdata/fuzz/FuzzParsePasswordHash.
func FuzzParsePasswordHash(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parsePasswordHash(s)
		if err != nil {
			return
		}
		if a, ok := v.(argon2Verifier); ok && (a.memory > maxArgon2Memory || a.time > maxArgon2Time || a.threads == 0) {
			t.Fatalf("accepted out-of-range parameters %+v", a)
		}
	})
}

func benchmarkBasic(b *testing.B, method string) {
	bh, ah := basicTestHashes(b)
	p := akMustCompile(b, akConfig(b, basicConsumers(bh, ah), method), pipeline.NewSharedValues())
	r := basicReq("carol", "s3cret-b")
	c := akContext(r)
	b.ReportAllocs()
	for b.Loop() {
		c.Identity = nil
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

// BenchmarkBasicCached is the common case: the same client again.
func BenchmarkBasicCached(b *testing.B) {
	benchmarkBasic(b, "          - basic: {forward_credentials: true}")
}

// BenchmarkBasicUncached pays a bcrypt check (cost 4 here; each step of
// cost doubles it: cost 10 is 64 times this).
func BenchmarkBasicUncached(b *testing.B) {
	benchmarkBasic(b, "          - basic: {cache_ttl: 0s, forward_credentials: true}")
}
