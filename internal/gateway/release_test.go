package gateway

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/upstream"
)

// TestExchangeReusedOnlyWhenTheServiceReleasesTheRequest: an exchange goes
// back to the pool after a forward only when the service holds nothing of
// the upstream request once Forward has returned: not after a try through
// an https target's http.Transport, whose goroutines may still read it.
func TestExchangeReusedOnlyWhenTheServiceReleasesTheRequest(t *testing.T) {
	cfg, err := config.Parse("release.yaml", []byte(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services:
  - {name: plain, targets: [{url: "http://127.0.0.1:9"}]}
  - {name: tls, targets: [{url: "https://127.0.0.1:9"}]}
routes:
  - {name: plain, paths: [{prefix: /plain/}], service: plain}
  - {name: tls, paths: [{prefix: /tls/}], service: tls}
ops: {disable: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	reg := upstream.NewRegistry()
	t.Cleanup(reg.Close)
	snap, err := Compile(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, path string
		reusable   bool
	}{
		{desc: "http target", path: "/plain/x", reusable: true},
		{desc: "https target", path: "/tls/x", reusable: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, http.MethodGet, tc.path, "example.com")
			x.reusable = true
			if !x.checkTarget() || !x.matchRoute() || !x.rewritePath() {
				t.Fatalf("refused before the forward: %d %s", w.Code, w.Body)
			}
			resp, tg := x.forward() // port 9 refuses: the forward fails
			if tg != nil {
				tg.Release()
			}
			if resp != nil {
				resp.Body.Close()
				t.Fatal("a response from the discard port")
			}
			if x.reusable != tc.reusable {
				t.Fatalf("reusable = %v after the forward, want %v", x.reusable, tc.reusable)
			}
		})
	}
}
