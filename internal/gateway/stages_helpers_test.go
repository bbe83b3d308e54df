package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/upstream"
)

// stagesConfig is the config the stage tests compile: routes that exercise
// exact and prefix paths, strip_prefix, rewrite and method overrides. The
// target is never dialled: the stage tests stop before the upstream.
const stagesConfig = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: site
    paths: [{prefix: /site/}]
    methods: [GET, HEAD]
    service: svc
  - name: stripped
    paths: [{prefix: /api/}]
    strip_prefix: true
    service: svc
  - name: rewritten
    paths: [{prefix: /public/}]
    rewrite: /internal/v2/
    service: svc
  - name: exact
    paths: [{exact: /login}]
    rewrite: /auth/login
    service: svc
  - name: overrides
    paths: [{prefix: /items/}]
    methods: [POST, DELETE, PUT]
    method_override: true
    service: svc
  - name: items-read
    paths: [{prefix: /items/}]
    methods: [GET]
    service: svc
  - name: no-overrides
    paths: [{prefix: /other/}]
    methods: [POST]
    service: svc
ops: {disable: true}
`

// stagesSnapshot compiles stagesConfig.
func stagesSnapshot(t *testing.T) *Snapshot {
	t.Helper()
	cfg, err := config.Parse("stages.yaml", []byte(stagesConfig))
	if err != nil {
		t.Fatal(err)
	}
	reg := upstream.NewRegistry()
	t.Cleanup(reg.Close)
	s, err := Compile(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newExchange is an exchange as begin leaves it, for a request with the
// given method, target and Host, without a gateway around it.
func newExchange(snap *Snapshot, method, target, host string) (*exchange, *httptest.ResponseRecorder) {
	r := httptest.NewRequest(method, "http://example.com/", nil)
	r.RequestURI, r.Host = target, host
	r.RemoteAddr = "192.0.2.10:40000"
	w := httptest.NewRecorder()
	x := &exchange{h: &proxyHandler{}, w: w, r: r, snap: snap, peer: peerAddr(r.RemoteAddr)}
	x.c = &pipeline.Context{Request: r, RequestID: "test-id", ClientAddr: x.peer}
	return x, w
}

// header builds an http.Header from name, value pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
