package waf

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
)

// BenchmarkCleanGET is the WAF's cost for an ordinary GET with a query.
func BenchmarkCleanGET(b *testing.B) {
	p, _ := mustPolicy(b, "        mode: blocking")
	c := request(b, "GET", "/v1/users?name="+q("O'Brien")+"&page=2&sort=-created_at", nil, "")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

// BenchmarkBrowserGET is a clean GET with the eleven headers a browser's
// API call carries (cookies, a bearer token, fetch metadata).
func BenchmarkBrowserGET(b *testing.B) {
	p, _ := mustPolicy(b, "        mode: blocking")
	c := request(b, "GET", "/v1/orders?page=2&sort=created_at", http.Header{
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		"Accept":          {"application/json, text/plain, */*"},
		"Accept-Language": {"en-US,en;q=0.5"},
		"Accept-Encoding": {"gzip, deflate, br"},
		"Referer":         {"https://app.example.com/dashboard"},
		"Cookie":          {"session=abcdef0123456789; theme=dark"},
		"Authorization":   {"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCJ9.abcdefghijklmnop"},
		"Sec-Fetch-Mode":  {"cors"},
		"Sec-Fetch-Site":  {"same-site"},
		"Origin":          {"https://app.example.com"},
	}, "")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

// BenchmarkAttackGET is a GET whose query carries an SQL injection and a
// script, in detection mode (every rule runs to the end): the cost when
// rules match, which pruning's own operator runs make larger, not
// smaller.
func BenchmarkAttackGET(b *testing.B) {
	p, _ := mustPolicy(b, "        mode: detection")
	c := request(b, "GET", "/v1/users?id="+q("1' OR '1'='1")+"&q="+q("<script>alert(1)</script>"), nil, "")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

// BenchmarkCleanJSONPost is the cost for a small JSON body (body
// inspection on), including buffering and restoring the body.
func BenchmarkCleanJSONPost(b *testing.B) {
	p, _ := mustPolicy(b, "        mode: blocking")
	body := `{"name":"Seán O'Brien","email":"sean@example.ie","tags":["a","b"],"address":{"city":"Dublin","zip":"D02"}}`
	c := request(b, "POST", "/v1/users", http.Header{"Content-Type": {jsonCT}}, body)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		c.Request.Body = io.NopCloser(strings.NewReader(body))
		c.Request.ContentLength = int64(len(body))
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

// BenchmarkBuild is what compiling one rule set costs (done once per
// distinct configuration, not per request or reload).
func BenchmarkBuild(b *testing.B) {
	s := settings{blocking: true, paranoia: 1, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, _, err := s.build(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU adds a cpu-ns/op metric; call as defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkCleanGETScreen is BenchmarkCleanGET on two builds of the same
// rule set, without the @rx screen (Coraza's own matching) and with it,
// and on the screened build with pruning (prune.go) on, alternated three
// times so that the machine's drift falls on all three.
func BenchmarkCleanGETScreen(b *testing.B) {
	s := settings{blocking: true, paranoia: 1, threshold: 5, bodyLimit: defaultBodyLimit}
	unscreened := buildWithoutScreen(b, s)
	screened, _, err := s.build()
	if err != nil {
		b.Fatal(err)
	}
	c := request(b, "GET", "/v1/users?name="+q("O'Brien")+"&page=2&sort=-created_at", nil, "")
	if os.Getenv("WAF_BENCH_BEARER") != "" {
		// The load harness's portcullis-waf request.
		c = request(b, "GET", "/chain-waf/ok?q=hello", http.Header{"Authorization": {"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJleHAiOjE5OTk5OTk5OTl9.abcdefghijklmnopqrstuvwxyz0123456789_-ABCDEFG"}}, "")
	}
	for range 3 {
		for _, e := range []struct {
			name   string
			waf    coraza.WAF
			pruner *pruner
		}{{"unscreened", unscreened, nil}, {"screened", screened.waf, nil}, {"pruned", screened.waf, screened.pruner}} {
			p := &policy{waf: e.waf, pruner: e.pruner, blocking: true, log: slog.New(slog.DiscardHandler)}
			b.Run(e.name, func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if prob := p.Handle(c); prob != nil {
						b.Fatal(prob.Reason)
					}
				}
			})
		}
	}
}

// BenchmarkPrune is pruning's own cost (prune.go) for the load harness's
// portcullis-waf request: a transaction with the URI and headers in,
// pruned, and closed, without evaluating any rule.
func BenchmarkPrune(b *testing.B) {
	e, _, err := settings{blocking: true, paranoia: 1, threshold: 5, bodyLimit: defaultBodyLimit}.build()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	pruned := 0
	for b.Loop() {
		tx := e.waf.NewTransaction()
		tx.ProcessURI("/chain-waf/ok?q=hello", "GET", "HTTP/1.1")
		tx.AddRequestHeader("Host", "127.0.0.1:19100")
		tx.AddRequestHeader("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJleHAiOjE5OTk5OTk5OTl9.abcdefghijklmnopqrstuvwxyz0123456789_-ABCDEFG")
		pruned = e.pruner.prune(tx, false)
		_ = tx.Close()
	}
	b.ReportMetric(float64(pruned), "rules/op")
}
