// Package ratelimit provides the "rate_limit" policy kind (limit phase):
// exact GCRA rate limits and quotas per consumer, credential, client
// address, route, header or a CEL expression (key_expr), with several limits per route, per-consumer
// plans, and two stores with the same semantics: Local (in memory,
// sharded, bounded) and Redis (shared by every gateway node, one atomic
// script run per check, concurrent checks pipelined into shared round
// trips). Refused requests get 429 with Retry-After and the
// IETF RateLimit-Policy and RateLimit headers; admitted ones carry the
// remaining quota. docs/traffic.md explains the algorithm and the cluster
// behaviour.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/portcullis/portcullis/internal/authz"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("rate_limit", policyConfig{}, compile)
}

// Reasons, for the log only.
const (
	ReasonExceeded    = "rate limit exceeded"
	ReasonUnavailable = "rate limit store unavailable"
	// ReasonKeyError: key_expr failed to evaluate; the request is refused
	// (403) rather than counted under a key it might share with others.
	ReasonKeyError = "ratelimit: key error"
)

// maxKeyValue bounds the part of a store key that comes from the request:
// longer values (a huge header) are replaced by their hash.
const maxKeyValue = 96

// Policy is a compiled rate_limit policy.
type Policy struct {
	bucket   string
	key      keyKind
	header   string
	expr     *authz.StringExpr // key_expr; nil otherwise
	def      *limitSet
	byPlan   map[string]*limitSet // consumer name -> its plan's limits
	local    *Local
	redis    *Redis // nil for the local store
	prefix   string
	failOpen bool
	// v6bits: the leading bits of an IPv6 client address counted as one
	// client (client_ipv6_prefix; config.ClientKey).
	v6bits int
	// now is the clock of the local store (microseconds); tests replace it.
	now func() int64
}

func compile(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg policyConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	p := &Policy{bucket: cfg.Bucket, v6bits: env.Config.ClientIPv6Bits(), now: func() int64 { return time.Now().UnixMicro() }}
	if p.bucket == "" {
		p.bucket = env.Route
	} else if !nameRE.MatchString(p.bucket) {
		return nil, fmt.Errorf("bucket %q: use 1-32 characters a-z, 0-9, '.', '_', '-'", cfg.Bucket)
	}
	var err error
	if p.key, p.header, err = parseKey(cfg.Key); err != nil {
		return nil, err
	}
	if cfg.KeyExpr != nil {
		if cfg.Key != "" {
			return nil, fmt.Errorf("key and key_expr: set one, not both")
		}
		if p.expr, err = authz.CompileStringExpr(env, env.Path+".key_expr", cfg.KeyExpr); err != nil {
			return nil, err
		}
		p.key = keyExpr
	}
	if p.def, err = compileSet("", cfg.Limits); err != nil {
		return nil, err
	}
	plans := map[string]*limitSet{}
	for name, lcs := range cfg.Plans {
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("plans: name %q: use 1-32 characters a-z, 0-9, '.', '_', '-'", name)
		}
		s, err := compileSet(name, lcs)
		if err != nil {
			return nil, fmt.Errorf("plans.%s.%w", name, err)
		}
		plans[name] = s
	}
	if env.Config != nil && len(plans) > 0 {
		p.byPlan = map[string]*limitSet{}
		for _, c := range env.Config.Consumers {
			if s, ok := plans[c.Metadata["plan"]]; ok {
				p.byPlan[c.Name] = s
			}
		}
	}
	if cfg.MaxKeys < 0 {
		return nil, fmt.Errorf("max_keys must not be negative")
	}
	lv, err := env.State.Get("ratelimit.local."+strconv.Itoa(cfg.MaxKeys), func() (any, error) {
		return NewLocal(cfg.MaxKeys), nil
	})
	if err != nil {
		return nil, err
	}
	p.local = lv.(*Local)

	switch cfg.Fail {
	case "", "open":
		p.failOpen = true
	case "closed":
	default:
		return nil, fmt.Errorf("fail %q: use open or closed", cfg.Fail)
	}
	switch cfg.Store {
	case "", "local":
		if cfg.Redis != nil {
			return nil, fmt.Errorf("redis is set but store is not redis")
		}
	case "redis":
		o, err := cfg.Redis.Options()
		if err != nil {
			return nil, err
		}
		p.prefix = cfg.Redis.Prefix
		if p.prefix == "" {
			p.prefix = "pcl:rl:"
		}
		if p.redis, err = SharedRedis(env.State, o); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("store %q: use local or redis", cfg.Store)
	}
	return p, nil
}

// Phase implements pipeline.RequestPolicy.
func (p *Policy) Phase() pipeline.Phase { return pipeline.PhaseLimit }

// ReadHeaders names the headers the key is taken from (key: header:NAME,
// or those key_expr reads): one value per request, so the gateway refuses
// a request that repeats one (pipeline.HeaderReader).
func (p *Policy) ReadHeaders() []string {
	switch {
	case p.key == keyHeader:
		return []string{p.header}
	case p.expr != nil:
		return p.expr.ReadHeaders()
	}
	return nil
}

var (
	_ pipeline.RequestPolicy  = (*Policy)(nil)
	_ pipeline.ResponsePolicy = (*Policy)(nil)
	_ pipeline.IdentityUser   = (*Policy)(nil)
	_ pipeline.HeaderReader   = (*Policy)(nil)
)

// NeedsIdentity implements pipeline.IdentityUser: counting by consumer or
// credential, or by an expression that reads identity, needs
// authentication on the route.
func (p *Policy) NeedsIdentity() bool {
	return p.key == keyConsumer || p.key == keyCredential || (p.expr != nil && p.expr.UsesIdentity())
}

// decision is what Handle passes to Respond through the Context.
type decision struct {
	set *limitSet
	res Result
	// hdr holds the two header values Respond sets, so that their value
	// slices cost no allocation of their own; hbuf holds the RateLimit
	// value's bytes when they fit, for the same reason.
	hdr   [2]string
	hbuf  [56]byte
	hused bool
}

// Handle implements pipeline.RequestPolicy.
func (p *Policy) Handle(c *pipeline.Context) *pipeline.Problem {
	set := p.def
	if c.Identity != nil && p.byPlan != nil {
		if s, ok := p.byPlan[c.Identity.Consumer]; ok {
			set = s
		}
	}
	var buf [192]byte
	var key []byte
	if p.expr != nil {
		v, err := p.expr.Eval(c)
		if err != nil {
			return pipeline.NewProblem(http.StatusForbidden, "The request is not allowed.", ReasonKeyError)
		}
		key = appendValue(p.appendPrefix(buf[:0], set), "x:", v)
	} else {
		key = p.appendKey(buf[:0], c, set)
	}
	res, prob := p.decide(c.Request.Context(), key, set)
	if prob != nil {
		return prob
	}
	if !res.Allowed {
		prob := pipeline.NewProblem(http.StatusTooManyRequests, "Too many requests; retry later.", ReasonExceeded)
		secs := (res.Wait + 999_999) / 1_000_000
		prob.Header = http.Header{
			"Retry-After":      {strconv.FormatInt(max(secs, 1), 10)},
			"Ratelimit-Policy": {set.policyHeader},
			"Ratelimit":        {rateLimitHeader(set, &res)},
		}
		return prob
	}
	c.SetValue(p, &decision{set: set, res: res})
	return nil
}

// Respond implements pipeline.ResponsePolicy: an admitted request's
// response tells the client its remaining quota.
func (p *Policy) Respond(c *pipeline.Context, _ int, h http.Header) {
	d, _ := c.Value(p).(*decision)
	if d == nil {
		return
	}
	d.hdr[0], d.hdr[1] = d.set.policyHeader, d.rateLimitHeader()
	h["Ratelimit-Policy"] = d.hdr[0:1:1]
	h["Ratelimit"] = d.hdr[1:2:2]
}

// decide asks the store. With Redis failing, fail open asks the local
// store instead; fail closed answers 503.
func (p *Policy) decide(ctx context.Context, key []byte, set *limitSet) (Result, *pipeline.Problem) {
	if p.redis == nil {
		return p.local.allow(p.now(), key, set.ps), nil
	}
	var kbuf [MaxLimits]string
	keys := redisKeys(p.prefix, key, set.names, kbuf[:0])
	res, err := p.redis.allow(ctx, keys, set.ps)
	if err == nil {
		return res, nil
	}
	if p.failOpen && ctx.Err() == nil {
		return p.local.allow(p.now(), key, set.ps), nil
	}
	prob := pipeline.NewProblem(http.StatusServiceUnavailable, "The service is temporarily unavailable.", ReasonUnavailable)
	prob.Header = http.Header{"Retry-After": {"1"}}
	return Result{}, prob
}

// appendKey builds the request's store key: bucket, plan, then what the
// policy counts by. Parts from the request that are too long are hashed,
// so a client cannot make keys arbitrarily large.
func (p *Policy) appendKey(b []byte, c *pipeline.Context, set *limitSet) []byte {
	b = p.appendPrefix(b, set)
	kind := p.key
	id := c.Identity
	if kind == keyDefault {
		kind = keyClient
		if id != nil && id.Consumer != "" {
			kind = keyConsumer
		}
	}
	if kind == keyCredential && (id == nil || id.CredentialID == "") {
		kind = keyConsumer // a method without credential ids (mtls by subject, say)
	}
	if kind == keyConsumer && (id == nil || id.Consumer == "") {
		kind = keyClient
	}
	switch kind {
	case keyConsumer:
		return appendValue(b, "c:", id.Consumer)
	case keyCredential:
		return appendValue(b, "k:", id.CredentialID)
	case keyRoute:
		return appendValue(b, "r:", c.Route)
	case keyHeader:
		return appendValue(b, "h:", c.Request.Header.Get(p.header))
	default:
		// One client: an IPv4 address, or an IPv6 client's network (a
		// host picks any address of its /64; config.ClientKey).
		b = append(b, "a:"...)
		return config.ClientKey(c.ClientAddr, p.v6bits).AppendTo(b)
	}
}

// appendPrefix starts a store key: the bucket and the plan.
func (p *Policy) appendPrefix(b []byte, set *limitSet) []byte {
	b = append(b, p.bucket...)
	b = append(b, ':')
	b = append(b, set.plan...)
	return append(b, ':')
}

// appendValue appends the key kind's tag and a value from the request,
// hashed when it is long.
func appendValue(b []byte, tag, v string) []byte {
	b = append(b, tag...)
	if len(v) > maxKeyValue {
		sum := sha256.Sum256([]byte(v))
		b = append(b, '#')
		return hex.AppendEncode(b, sum[:16])
	}
	return append(b, v...)
}

// rateLimitHeader is the decision's RateLimit value, written into the
// decision's own bytes when it fits: the header map keeps the decision
// alive for as long as it holds the string, and hbuf is written only once
// (a second call gets a string of its own).
func (d *decision) rateLimitHeader() string {
	if d.hused {
		return rateLimitHeader(d.set, &d.res)
	}
	d.hused = true
	b := appendRateLimitHeader(d.hbuf[:0], d.set, &d.res)
	if len(b) == 0 || &b[0] != &d.hbuf[0] {
		return string(b) // grown past hbuf by long limit names
	}
	// #nosec G103 -- hbuf is written once, here, and never changed; the string keeps the decision alive.
	return unsafe.String(&d.hbuf[0], len(b))
}

// rateLimitHeader is the RateLimit value: for each limit, what remains
// now (r) and when it resets (t, seconds; see reset).
func rateLimitHeader(set *limitSet, res *Result) string {
	var buf [48 * MaxLimits]byte // on the stack; grown only by a very long limit name
	return string(appendRateLimitHeader(buf[:0], set, res))
}

// appendRateLimitHeader appends the RateLimit value to b.
func appendRateLimitHeader(b []byte, set *limitSet, res *Result) []byte {
	for i, ps := range set.ps {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '"')
		b = append(b, set.names[i]...)
		b = append(b, `";r=`...)
		b = strconv.AppendInt(b, remaining(res.Now, ps, res.TAT[i]), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, (reset(res.Now, ps, res.TAT[i])+999_999)/1_000_000, 10)
	}
	return b
}
