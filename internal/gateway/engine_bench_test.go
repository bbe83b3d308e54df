package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/http1"
)

// minimalResponse is the smallest "ok" response an upstream can send.
var minimalResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

// nginxResponse is the "ok" of the load harness's upstream (nginx's
// return 200 "ok", bench/conf/nginx-upstream.conf), byte for byte but for
// the date: the headers a real upstream sends, Connection among them.
var nginxResponse = []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 02:07:41 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")

// rawUpstream answers every request on its connections with a fixed "ok"
// response, allocating nothing per request, so a benchmark's allocations
// are the gateway's.
func rawUpstream(b *testing.B) string {
	b.Helper()
	return rawUpstreamWith(b, minimalResponse)
}

// rawUpstreamWith is rawUpstream answering resp.
func rawUpstreamWith(b *testing.B, resp []byte) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 8192)
				for {
					// Requests from the gateway here have no body: the head ends
					// with an empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkEngineProxyPlain is one proxied plain request through the whole
// HTTP/1.1 path: the engine parsing the client's request on a loopback
// connection, the gateway's handler (one plain route, access log off), the
// upstream client, and the engine writing the response. The client and the
// upstream allocate nothing, so allocs/op is the gateway's.
func BenchmarkEngineProxyPlain(b *testing.B) {
	up := rawUpstream(b)
	benchEngine(b, benchGatewayTo(b, up, "off", ""), plainRequest)
}

// plainRequest is the load harness's request to the plain route (wrk's
// request, with the headers a client library adds).
var plainRequest = []byte("GET /ok HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")

// BenchmarkEngineProxy is BenchmarkEngineProxyPlain under load (64 client
// connections at once, as the load harness's wrk -c64) toward an upstream
// answering as the harness's nginx does (Server, Date, Connection:
// keep-alive), on the plain route, on issue 12's chain (bench/conf's route
// chain: an IP allow list, JWT RS256 with its verification cache, a scope,
// a local rate limit, and the access log to a file), on bench/conf's
// chain-cel (an IP allow list, JWT HS256, a scope, a CEL rule, input
// limits; the access log to a file too), and on chain-cel with the WAF
// after it (bench/conf's chain-waf, the load harness's portcullis-waf).
// cpu-ns/op is the whole process's CPU time (client and upstream included)
// per request: on a shared machine it is steadier than ns/op, which is
// mostly waiting.
func BenchmarkEngineProxy(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		up := rawUpstreamWith(b, nginxResponse)
		benchEngineLoaded(b, benchGatewayTo(b, up, "off", ""), plainRequest, 64)
	})
	b.Run("chain", func(b *testing.B) {
		up := rawUpstreamWith(b, nginxResponse)
		routes, token := benchIssueChain(b)
		logFile := filepath.Join(b.TempDir(), "access.log")
		h := benchGatewayConfig(b, up, logFile, routes)
		req := []byte("GET /ok HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\nAuthorization: Bearer " +
			token + "\r\n\r\n")
		// The rate limit ran: its headers are on the answer.
		if resp := engineOnce(b, h, req); !bytes.Contains(bytes.ToLower(resp), []byte("\r\nratelimit: \"default\";r=")) {
			b.Fatalf("no RateLimit header: %q", resp)
		}
		benchEngineLoaded(b, h, req, 64)
		if fi, err := os.Stat(logFile); err != nil || fi.Size() == 0 {
			b.Fatalf("the access log was not written: %v", err)
		}
	})
	b.Run("chain-cel", func(b *testing.B) {
		up := rawUpstreamWith(b, nginxResponse)
		h := benchGatewayConfig(b, up, filepath.Join(b.TempDir(), "access.log"), benchChainRoutes)
		req := "GET /ok HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\nAuthorization: Bearer " +
			benchChainToken(b) + "\r\n\r\n"
		benchEngineLoaded(b, h, []byte(req), 64)
	})
	b.Run("chain-waf", func(b *testing.B) {
		up := rawUpstreamWith(b, nginxResponse)
		h := benchGatewayConfig(b, up, filepath.Join(b.TempDir(), "access.log"), benchChainWAFRoutes)
		req := "GET /ok?q=hello HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\nAuthorization: Bearer " +
			benchChainToken(b) + "\r\n\r\n"
		benchEngineLoaded(b, h, []byte(req), 64)
	})
}

// engineOnce serves h with the engine and returns the answer to one req.
func engineOnce(b *testing.B, h *proxyHandler, req []byte) []byte {
	b.Helper()
	c, err := net.Dial("tcp", serveEngine(b, h))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	if err := engineRoundTrip(c, req, buf); err != nil {
		b.Fatal(err)
	}
	n := bytes.Index(buf, []byte("\r\n\r\nok"))
	return buf[:max(n, 0)]
}

// benchChainWAFRoutes is bench/conf's chain-waf route: chain-cel's policies
// and the CRS (paranoia 1, blocking) after them.
var benchChainWAFRoutes = strings.Replace(benchChainRoutes,
	"      - {kind: validate, max_headers: 50, max_query_params: 20, max_url_length: 2048}\n",
	"      - {kind: validate, max_headers: 50, max_query_params: 20, max_url_length: 2048}\n"+
		"      - {kind: waf, mode: blocking, paranoia_level: 1}\n", 1)

// benchEngine serves h with the engine on loopback and measures one
// request (req, answered 200) at a time on one client connection.
func benchEngine(b *testing.B, h *proxyHandler, req []byte) {
	b.Helper()
	addr := serveEngine(b, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	// The upstream connection is dialed outside the measurement.
	if err := engineRoundTrip(c, req, buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if err := engineRoundTrip(c, req, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// benchEngineLoaded is benchEngine with conns client connections at once,
// as the load harness drives the gateway (wrk -c64): the process is busy,
// so cpu-ns/op is the work per request rather than the cost of waking idle
// threads for each one.
func benchEngineLoaded(b *testing.B, h *proxyHandler, req []byte, conns int) {
	b.Helper()
	addr := serveEngine(b, h)
	b.SetParallelism(max(1, conns/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for pb.Next() {
			if err := engineRoundTrip(c, req, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// serveEngine serves h with the engine on a loopback listener.
func serveEngine(b *testing.B, h *proxyHandler) string {
	b.Helper()
	srv := &http1.Server{Handler: h, Refuse: h.gw.refuseMalformed}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = l.Close(); srv.Close() })
	return l.Addr().String()
}

// engineRoundTrip sends req on c and reads a 200 response with a
// Content-Length to its end.
func engineRoundTrip(c net.Conn, req, buf []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
		if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
			head := buf[:end]
			i := bytes.Index(head, []byte("Content-Length: "))
			if i < 0 || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
				return fmt.Errorf("response %q", buf[:n])
			}
			j := bytes.IndexByte(head[i:], '\r')
			if j < 0 {
				j = len(head) - i
			}
			cl, _ := strconv.Atoi(string(head[i+16 : i+j]))
			if n >= end+4+cl {
				return nil
			}
		}
	}
}
