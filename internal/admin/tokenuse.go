package admin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// Admin tokens are scoped: besides a role, a token may have an expiry and
// a list of client networks (a token copied off its automation host is
// refused elsewhere with 403), and the API shows when and from where each
// was last used, over every node.

// tokenTouchEvery bounds how often one node records the use of one token
// from one address: "last used" is accurate to this, and a busy token
// does not write the store on every call.
const tokenTouchEvery = 10 * time.Second

// maxTokenNetworks bounds a token's network list.
const maxTokenNetworks = 32

type tokenUse struct {
	mu   sync.Mutex
	last map[string]tokenTouch
}

type tokenTouch struct {
	at     time.Time
	client string
}

// tokenNetworks reads a token's client networks by the one rule for
// address lists (config.ParsePrefix, as trusted proxies and ip_filter read
// theirs): a CIDR (without host bits) or an address, an IPv4-mapped IPv6 one as
// the IPv4 network it covers (clients are compared unmapped).
func tokenNetworks(in []string) ([]string, *Problem) {
	if len(in) > maxTokenNetworks {
		return nil, badField("networks", "at most %d networks", maxTokenNetworks)
	}
	var nets []string
	for i, n := range in {
		p, err := config.ParsePrefix(n)
		var hb *config.HostBitsError
		switch {
		case errors.As(err, &hb):
			return nil, badField(fmt.Sprintf("networks[%d]", i), "%s", err)
		case err != nil:
			return nil, badField(fmt.Sprintf("networks[%d]", i), "%q is not a network in CIDR notation (such as 10.0.0.0/8) or an address", n)
		}
		nets = append(nets, p.String())
	}
	return nets, nil
}

// tokenNetworkAllows reports whether a token limited to networks may be
// used from client (any client when networks is empty). A network that
// does not parse allows nothing: the API accepts valid prefixes only, so
// one that does not parse was edited in the store.
func tokenNetworkAllows(networks []string, client string) bool {
	if len(networks) == 0 {
		return true
	}
	a, err := netip.ParseAddr(client)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range networks {
		if p, err := config.ParsePrefix(n); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// touchToken records a token's use in the store, at most every
// tokenTouchEvery per address; the call does not wait for a slow store.
func (s *Server) touchToken(ctx context.Context, id, client string) {
	now := time.Now()
	s.tokUse.mu.Lock()
	if s.tokUse.last == nil {
		s.tokUse.last = map[string]tokenTouch{}
	}
	prev, seen := s.tokUse.last[id]
	if seen && prev.client == client && now.Sub(prev.at) < tokenTouchEvery {
		s.tokUse.mu.Unlock()
		return
	}
	s.tokUse.last[id] = tokenTouch{at: now, client: client}
	s.tokUse.mu.Unlock()
	if s.rt.StoreError() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.st.TouchToken(ctx, id, client, now); err != nil {
		s.log.Warn("admin: an admin token's use could not be recorded", "error", err)
		s.tokUse.mu.Lock()
		delete(s.tokUse.last, id)
		s.tokUse.mu.Unlock()
	}
}
