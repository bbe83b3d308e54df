package authz

// The "acl" kind: a route allows or denies consumer groups.
//
//	- kind: acl
//	  allow: [staff, partners]   # empty or absent: any authenticated consumer
//	  deny: [suspended]          # wins over allow
//	  hide: false                # true: answer 404 instead of 403

import (
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("acl", aclConfig{}, compileACL) }

type aclConfig struct {
	Allow []string `yaml:"allow,omitempty" empty:"every group not denied"`
	Deny  []string `yaml:"deny,omitempty"`
	Hide  bool     `yaml:"hide,omitempty"`
}

// aclPolicy is a compiled acl. Group lists are short, so sets are maps
// whose lookups with a string key do not allocate.
type aclPolicy struct {
	allow map[string]struct{} // nil: any authenticated consumer
	deny  map[string]struct{}
	ref   *refuser
}

func compileACL(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg aclConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Allow) == 0 && len(cfg.Deny) == 0 {
		return nil, errors.New("at least one of allow or deny must list a group")
	}
	p := &aclPolicy{}
	var err error
	if p.allow, err = groupSet("allow", cfg.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = groupSet("deny", cfg.Deny); err != nil {
		return nil, err
	}
	for g := range p.deny {
		if _, both := p.allow[g]; both {
			return nil, fmt.Errorf("group %q is in both allow and deny", g)
		}
	}
	if p.ref, err = newRefuser(env, "acl", cfg.Hide); err != nil {
		return nil, err
	}
	return p, nil
}

func groupSet(field string, groups []string) (map[string]struct{}, error) {
	if len(groups) == 0 {
		return nil, nil
	}
	set := make(map[string]struct{}, len(groups))
	for i, g := range groups {
		if g == "" {
			return nil, fmt.Errorf("%s[%d]: a group name is empty", field, i)
		}
		if _, dup := set[g]; dup {
			return nil, fmt.Errorf("%s[%d]: group %q is listed twice", field, i, g)
		}
		set[g] = struct{}{}
	}
	return set, nil
}

func (p *aclPolicy) Phase() pipeline.Phase { return pipeline.PhaseAuthz }
func (p *aclPolicy) NeedsIdentity() bool   { return true }

// Handle refuses a consumer in any denied group, then one in no allowed
// group. With no allow list, any consumer that authenticated passes; the
// auth policy's anonymous consumer did not authenticate, so it passes only
// when allow names one of its groups.
func (p *aclPolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	id := c.Identity
	if id == nil {
		return p.ref.refuse(reasonNoIdentity)
	}
	for _, g := range id.Groups {
		if _, denied := p.deny[g]; denied {
			return p.ref.refuse(reasonGroupDenied)
		}
	}
	if p.allow == nil {
		if id.Method == anonymousMethod {
			return p.ref.refuse(reasonAnonymous)
		}
		return nil
	}
	for _, g := range id.Groups {
		if _, ok := p.allow[g]; ok {
			return nil
		}
	}
	return p.ref.refuse(reasonGroupNotAllowed)
}

// anonymousMethod is Identity.Method for the auth policy's anonymous consumer.
const anonymousMethod = "anonymous"

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*aclPolicy)(nil)
	_ pipeline.IdentityUser  = (*aclPolicy)(nil)
)
