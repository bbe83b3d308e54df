// Package upstream sends proxied requests to a service's targets.
//
// A Registry owns one connection pool per target (keyed by the target URL and
// every setting that shapes its connections), so pools, their idle keep-alive
// connections and their passive health outlive configuration snapshots: a
// reload that keeps a target keeps its connections. A Service is the compiled
// form of a config.Service: its targets and a balancer (round robin, least
// connections or consistent hash) that Pick uses.
//
// Resilience (docs/traffic.md#resilience): the pool also holds the
// target's active health (health.go, one checker goroutine per pool, ended
// when the pool is pruned or closed), passive ejection and circuit breaker
// (breaker.go); Pick skips targets any of them rules out. Service.Forward
// (retry.go) is Pick plus RoundTrip plus outcome reporting, with retries
// only when safe, within a per-service budget, under per-try and total
// timeouts.
//
// For http:// targets the package has its own HTTP/1.1 keep-alive client
// (client.go, wire.go, body.go). net/http's Transport runs a reader and a
// writer goroutine per connection and pays for features a reverse proxy does
// not use; writing the request on the caller's goroutine and reading the
// response with the engine's strict response parser (http1.ClientConn,
// which reuses the Response, its Header and their values per connection)
// is markedly faster on the request path. A connection goes back to the
// pool when the response body is closed, not when it hits EOF: until then
// the Response is the caller's. The abort of an exchange when its request
// context ends uses the engine's connection context slot when the context
// is one (no allocation), context.AfterFunc otherwise.
// The request body is written before the response is read (no full-duplex
// HTTP/1.1); a response the upstream sends early while refusing the body
// (413, 401) is still returned.
// https:// targets use a tuned *http.Transport (tls.go), which brings TLS
// session reuse and HTTP/2.
package upstream
