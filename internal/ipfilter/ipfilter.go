package ipfilter

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("ip_filter", config.IPFilter{}, compileIPFilterPolicy)
}

// Filter is a compiled allow and deny list. Deny wins; without an allow
// list every address not denied is allowed.
type Filter struct {
	allow *IPSet // nil: every address
	deny  *IPSet
}

// FileReader reads a CIDR list file; Compile takes one so that a
// file named by several routes is read once per load.
type FileReader func(path string) ([]netip.Prefix, error)

// Compile compiles f. Files are read with read (ReadCIDRFile when
// nil). An allow_file with no entries is an error: an empty guest list
// that silently allowed everyone would fail open.
func Compile(f *config.IPFilter, read FileReader) (*Filter, error) {
	if f == nil {
		return nil, fmt.Errorf("no ip_filter")
	}
	if len(f.Allow)+len(f.Deny) == 0 && f.AllowFile == "" && f.DenyFile == "" {
		return nil, fmt.Errorf("at least one of allow, deny, allow_file or deny_file is required")
	}
	if read == nil {
		read = ReadCIDRFile
	}
	list := func(name string, entries []string, file string) ([]netip.Prefix, error) {
		ps, err := ParsePrefixes(entries)
		if err != nil {
			return nil, fmt.Errorf("%s%w", name, err)
		}
		if file != "" {
			fps, err := read(file)
			if err != nil {
				return nil, fmt.Errorf("%s_file: %w", name, err)
			}
			if len(fps) == 0 && name == "allow" {
				return nil, fmt.Errorf("allow_file: %q has no entries (an empty allow list would allow everyone)", file)
			}
			ps = append(ps, fps...)
		}
		return ps, nil
	}
	allow, err := list("allow", f.Allow, f.AllowFile)
	if err != nil {
		return nil, err
	}
	deny, err := list("deny", f.Deny, f.DenyFile)
	if err != nil {
		return nil, err
	}
	out := &Filter{deny: NewIPSet(deny)}
	if len(allow) > 0 {
		out.allow = NewIPSet(allow)
	}
	return out, nil
}

// Decision is why an address was allowed or refused.
type Decision uint8

// The decisions of Filter.Check.
const (
	Allowed    Decision = iota
	Denied              // on the deny list
	NotAllowed          // an allow list exists and the address is not on it
	NoAddress           // the client address is unknown: fail closed
)

// Reason is the fixed log text of a refusal.
func (d Decision) Reason() string {
	switch d {
	case Denied:
		return "address on the deny list"
	case NotAllowed:
		return "address not on the allow list"
	case NoAddress:
		return "client address unknown"
	}
	return "allowed"
}

// Check decides for the client address a (as computed from the trusted
// proxies, never read from a header here).
func (f *Filter) Check(a netip.Addr) Decision {
	if !a.IsValid() {
		return NoAddress
	}
	if f.deny.Contains(a) {
		return Denied
	}
	if f.allow != nil && !f.allow.Contains(a) {
		return NotAllowed
	}
	return Allowed
}

// Problem is the 403 answer for a refused decision, nil when allowed.
func (f *Filter) Problem(d Decision) *pipeline.Problem {
	if d == Allowed {
		return nil
	}
	return pipeline.NewProblem(http.StatusForbidden, "Access is not allowed from this client.", "ip_filter: "+d.Reason())
}

// ipFilterPolicy is the route-level ip_filter kind, in the access phase.
type ipFilterPolicy struct{ f *Filter }

func compileIPFilterPolicy(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg config.IPFilter
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	f, err := Compile(&cfg, SharedFileReader(env.Snapshot))
	if err != nil {
		return nil, err
	}
	return &ipFilterPolicy{f}, nil
}

// SharedFileReader reads each list file once per snapshot, however many
// routes name it. A nil m reads every time.
func SharedFileReader(m *pipeline.SharedValues) FileReader {
	if m == nil {
		return ReadCIDRFile
	}
	return func(path string) ([]netip.Prefix, error) {
		v, err := m.Get("ipfilter.cidrfile:"+path, func() (any, error) { return ReadCIDRFile(path) })
		if err != nil {
			return nil, err
		}
		// The prefixes are shared: NewIPSet copies before sorting.
		return v.([]netip.Prefix), nil
	}
}

func (p *ipFilterPolicy) Phase() pipeline.Phase { return pipeline.PhaseAccess }

func (p *ipFilterPolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	return p.f.Problem(p.f.Check(c.ClientAddr))
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*ipFilterPolicy)(nil)
)
