package gateway

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/portcullis/portcullis/internal/assertion"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/revocation"
	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/verify"
)

// Zero trust toward services (docs/zero-trust.md): the identity
// assertion of each service is compiled here, applied by the proxy
// handler, and its public keys are served on the ops listener.

// compileAssertions builds the assertion signers of cfg. The keyring in
// state keeps retired keys published across reloads.
func compileAssertions(cfg *config.Config, state *pipeline.SharedValues) (*assertion.Set, map[string]*assertion.Asserter, config.Errors) {
	v, _ := state.Get("assertion.keyring", func() (any, error) { return assertion.NewKeyring(), nil })
	ring, _ := v.(*assertion.Keyring)
	return assertion.Compile(cfg, ring)
}

// applyAssertion adds the route's service assertion to the outgoing
// headers; a failure (signing, which should never fail) refuses the
// request rather than send it without.
func applyAssertion(rt *route, hdr http.Header, c *pipeline.Context, method, path, rawQuery string) *pipeline.Problem {
	if rt.assert == nil {
		return nil
	}
	pq := path
	if rawQuery != "" {
		pq += "?" + rawQuery
	}
	if err := rt.assert.Apply(hdr, c, method, pq); err != nil {
		return pipeline.NewProblem(http.StatusInternalServerError, "The request could not be forwarded.", "identity assertion: "+err.Error())
	}
	return nil
}

// jwksHandler serves the current snapshot's assertion keys.
func (g *Gateway) jwksHandler(w http.ResponseWriter, _ *http.Request) {
	set := g.snap.Load().assertKeys
	if set == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no identity_assertion configured"})
		return
	}
	body, err := set.JWKS()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "the key set could not be built"})
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short: services must see a new key soon after a reload.
	w.Header().Set("Cache-Control", "max-age=30")
	_, _ = w.Write(body)
}

// jwksPath is where the ops listener serves the key set.
const jwksPath = verify.JWKSPath

func revocationChecker(ca *config.ClientAuth, log *slog.Logger) (*revocation.Checker, error) {
	if len(ca.CRLFiles) == 0 && ca.OCSP == nil {
		return nil, nil
	}
	bundle, err := tlspolicy.ReadCAFile(ca.CAFile)
	if err != nil {
		return nil, fmt.Errorf("client_auth.ca_file: %w", err)
	}
	return revocation.New(ca, bundle.Certs, log)
}

// checkRevocation loads the revocation settings of every listener, so
// that `portcullis validate` and a reload report a broken CRL.
func checkRevocation(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, l := range cfg.Listeners {
		if l.TLS == nil || l.TLS.ClientAuth == nil {
			continue
		}
		if _, err := revocationChecker(l.TLS.ClientAuth, nil); err != nil {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("listeners[%d].tls.client_auth", i), err.Error()))
		}
	}
	return errs
}
