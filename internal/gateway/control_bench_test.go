package gateway

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/upstream"
)

// BenchmarkStoreChangeCompile measures what one store change costs a node:
// merging n store consumers (one API key each) into a config of 200
// routes, 50 of them authenticated, and compiling the whole snapshot (the
// same path as a reload). It decides whether a store change can recompile
// everything or must patch only the credential indexes.
func BenchmarkStoreChangeCompile(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("consumers=%d", n), func(b *testing.B) {
			src := largeConfig(200)
			src += "consumers: []\n"
			file, err := config.Parse("bench.yaml", []byte(src))
			if err != nil {
				b.Fatal(err)
			}
			for i := range file.Routes {
				if i%4 == 0 {
					file.Routes[i].Policies = append(file.Routes[i].Policies, authPolicy(b))
				}
			}
			var cs []config.Consumer
			for i := range n {
				key, _ := apikey.Generate("")
				cs = append(cs, config.Consumer{Name: fmt.Sprintf("c%d", i), Groups: []string{"g"},
					Credentials: config.Credentials{APIKeys: []config.APIKeyCredential{{ID: fmt.Sprintf("k%d", i), Hash: apikey.Hash(key).String()}}}})
			}
			reg := upstream.NewRegistry()
			defer reg.Close()
			state := pipeline.NewSharedValues()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				merged, err := file.WithStoreConsumers(cs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := CompileWith(merged, reg, state); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func authPolicy(tb testing.TB) config.PolicySpec {
	cfg, err := config.Parse("p.yaml", []byte(`version: 1
listeners: [{name: p, address: "127.0.0.1:0"}]
services: [{name: s, targets: [{url: "http://127.0.0.1:1"}]}]
routes: [{name: r, paths: [{prefix: /}], service: s, policies: [{kind: auth, methods: [{api_key: {}}]}]}]
`))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Routes[0].Policies[0]
}

// BenchmarkProxyHandlerAdmin is BenchmarkProxyHandler's plain route with
// the control plane off and on (a SQLite store, its consumers compiled in,
// the detector that holds manual bans): the request path must not pay for
// the store. Compare the two in one run (-count 5, benchstat).
func BenchmarkProxyHandlerAdmin(b *testing.B) {
	for _, tc := range []struct{ name, extra string }{
		{"admin-off", ""},
		{"admin-on", "admin: {address: \"127.0.0.1:0\", store: {path: \"" + filepath.Join(b.TempDir(), "store.db") + "\"}}\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGatewayWith(b, "off", tc.extra)
			if (h.gw.control != nil) != (tc.extra != "") {
				b.Fatal("the control plane is not as asked")
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}
