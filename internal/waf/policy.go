package waf

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("waf", policyConfig{}, compile)
}

// Defaults and bounds of the policy's settings.
const (
	defaultParanoia  = 1
	defaultThreshold = 5
	defaultBodyLimit = 128 << 10
	maxBodyLimit     = 64 << 20
	maxThreshold     = 10000
	// maxLoggedRules bounds the rule ids written per log line.
	maxLoggedRules = 16
)

// policyConfig is the YAML of a "waf" policy.
type policyConfig struct {
	Mode string `yaml:"mode"`
	// ParanoiaLevel and AnomalyThreshold are pointers: a written 0 is out
	// of range and refused, not read as the default.
	ParanoiaLevel    *int        `yaml:"paranoia_level"`
	AnomalyThreshold *int        `yaml:"anomaly_threshold"`
	Exclusions       []int       `yaml:"exclusions"`
	InspectBody      *bool       `yaml:"inspect_body"`
	BodyLimit        config.Size `yaml:"body_limit,omitempty"`
}

// settings checks the config and fills in defaults.
func (pc policyConfig) settings() (settings, error) {
	s := settings{
		paranoia:    defaultParanoia,
		threshold:   defaultThreshold,
		inspectBody: pc.InspectBody == nil || *pc.InspectBody,
		bodyLimit:   int64(pc.BodyLimit),
	}
	switch pc.Mode {
	case "", "blocking":
		s.blocking = true
	case "detection":
	default:
		return s, fmt.Errorf("mode: must be \"blocking\" or \"detection\", not %q", pc.Mode)
	}
	if pc.ParanoiaLevel != nil {
		s.paranoia = *pc.ParanoiaLevel
	}
	if s.paranoia < 1 || s.paranoia > 4 {
		return s, fmt.Errorf("paranoia_level: must be 1 to 4, not %d", s.paranoia)
	}
	if pc.AnomalyThreshold != nil {
		s.threshold = *pc.AnomalyThreshold
	}
	if s.threshold < 1 || s.threshold > maxThreshold {
		return s, fmt.Errorf("anomaly_threshold: must be 1 to %d, not %d", maxThreshold, s.threshold)
	}
	if s.bodyLimit == 0 {
		s.bodyLimit = defaultBodyLimit
	}
	if s.bodyLimit < 1 || s.bodyLimit > maxBodyLimit {
		return s, fmt.Errorf("body_limit: must be 1 byte to %d MiB", maxBodyLimit>>20)
	}
	for _, id := range pc.Exclusions {
		if id <= 0 {
			return s, fmt.Errorf("exclusions: rule id %d is not a positive integer", id)
		}
	}
	s.exclusions = normalizeExclusions(pc.Exclusions)
	return s, nil
}

// policy is a compiled "waf" policy. The engine is shared; the policy
// itself holds only what Handle needs.
type policy struct {
	waf       coraza.WAF
	pruner    *pruner
	blocking  bool
	inspect   bool
	bodyLimit int64
	log       *slog.Logger
}

func compile(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var pc policyConfig
	if err := d.Decode(&pc); err != nil {
		return nil, err
	}
	s, err := pc.settings()
	if err != nil {
		return nil, err
	}
	state := env.State
	if state == nil {
		state = pipeline.NewSharedValues()
	}
	v, err := state.Get(s.key(), func() (any, error) {
		e, took, err := s.build()
		if err != nil {
			return nil, err
		}
		rules := -1
		if rc, ok := e.waf.(interface{ RulesCount() int }); ok {
			rules = rc.RulesCount()
		}
		slog.Default().Info("waf rule set compiled", "route", env.Route, "paranoia_level", s.paranoia,
			"blocking", s.blocking, "rules", rules, "left_out_by_paranoia", len(e.skipped), "initialization_folded", len(e.folded), "prunable", len(e.pruner.rules), "took", took.String())
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	e, ok := v.(*engine)
	if !ok {
		return nil, fmt.Errorf("state key %q holds a %T, not a WAF engine", s.key(), v)
	}
	return &policy{waf: e.waf, pruner: e.pruner, blocking: s.blocking, inspect: s.inspectBody, bodyLimit: s.bodyLimit, log: slog.Default()}, nil
}

func (p *policy) Phase() pipeline.Phase { return pipeline.PhaseValidate }

// Refusal texts: generic for the client; the reason names only rule ids
// and fixed words, never request data.
const (
	detailBlocked  = "The request was refused."
	detailTooLarge = "The request body is too large."
	detailUnread   = "The request body could not be read."
	detailEncoded  = "The request body encoding is not accepted."
)

// Handle runs one transaction over the request and closes it.
func (p *policy) Handle(c *pipeline.Context) *pipeline.Problem {
	r := c.Request
	tx := p.waf.NewTransactionWithID(c.RequestID)
	defer func() {
		tx.ProcessLogging()
		_ = tx.Close()
	}()

	it, prob := p.process(tx, c)
	if prob != nil {
		return prob
	}
	if it != nil {
		ids := matchedIDs(tx)
		p.log.Warn("waf blocked a request", "request_id", c.RequestID, "route", c.Route,
			"rule", it.RuleID, "matched", ids)
		prob := pipeline.NewProblem(http.StatusForbidden, detailBlocked, "waf: rule "+strconv.Itoa(it.RuleID))
		// The interrupting rule is usually the anomaly score's (949110):
		// the event names the first attack rule that matched.
		prob.Rule = strconv.Itoa(attackRule(ids, it.RuleID))
		return prob
	}
	if !p.blocking {
		if ids := matchedIDs(tx); len(ids) > 0 {
			p.log.Warn("waf detected a request (detection mode, let through)", "request_id", c.RequestID,
				"route", c.Route, "matched", ids, "method", r.Method)
		}
	}
	return nil
}

// process feeds the transaction phase by phase and stops at the first
// interruption. A Problem is returned for refusals that are not a rule's
// (body too large, unreadable).
func (p *policy) process(tx types.Transaction, c *pipeline.Context) (*types.Interruption, *pipeline.Problem) {
	r := c.Request
	tx.ProcessConnection(c.ClientAddr.String(), 0, "", 0)
	uri := c.Path
	if uri == "" {
		uri = r.URL.EscapedPath()
	}
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			// net/http answers "Expect: 100-continue" itself and refuses
			// any other expectation with 417, so the CRS's restricted
			// header rule (920450) could only misfire on curl uploads.
			if k == "Expect" && strings.EqualFold(v, "100-continue") {
				continue
			}
			tx.AddRequestHeader(k, v)
		}
	}
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(hostOnly(r.Host))
	}
	// net/http moves these out of the header map; rules need them
	// (smuggling checks, body presence).
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	if _, ok := r.Header["Content-Length"]; !ok && r.ContentLength > 0 {
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	p.pruner.prune(tx, p.inspect && hasBody(r))
	if it := tx.ProcessRequestHeaders(); it != nil {
		return it, nil
	}
	if p.inspect {
		if prob := p.inspectBody(tx, c); prob != nil {
			return nil, prob
		}
		if it := tx.Interruption(); it != nil {
			return it, nil
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		// Coraza could not evaluate the body rules: fail closed.
		return nil, pipeline.NewProblem(http.StatusForbidden, detailBlocked, "waf: body evaluation failed")
	}
	return it, nil
}

// matchedIDs lists the ids of the matched rules that carry a message: the
// detections and the scoring verdict, not the CRS's bookkeeping rules
// (its setup and initialization, ids 900000-901999).
func matchedIDs(tx types.Transaction) []int {
	var ids []int
	for _, m := range tx.MatchedRules() {
		id := m.Rule().ID()
		if m.Message() == "" || id >= 900000 && id <= 901999 {
			continue
		}
		ids = append(ids, id)
		if len(ids) == maxLoggedRules {
			break
		}
	}
	return ids
}

// attackRule is the first matched rule outside the CRS's scoring and
// blocking-evaluation files (949xxx, 959xxx, 98xxxx), or blocking when none.
func attackRule(ids []int, blocking int) int {
	for _, id := range ids {
		if g := id / 1000; g != 949 && g != 959 && id < 980000 {
			return id
		}
	}
	return blocking
}

// hostOnly strips the port from a Host value.
func hostOnly(h string) string {
	if len(h) > 0 && h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*policy)(nil)
	_ pipeline.OnePerRoute   = (*policy)(nil)
)

// WhyOnePerRoute: a second engine inspects every request again (the
// WAF is the costliest policy by far), and its exclusions would not
// apply to the first's rules.
func (p *policy) WhyOnePerRoute() string {
	return "a second rule set inspects every request again, and neither's exclusions apply to the other's rules; write one policy"
}
