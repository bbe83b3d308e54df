// Package http1 is Portcullis's HTTP/1.0 and HTTP/1.1 engine: the server
// that reads requests from client connections and writes the answers, and
// the response parser of the upstream client. It exists because the
// gateway's first job is that the request it checks is the request the
// upstream gets, and that is decided by how the bytes are framed. One
// parser, strict, run once, is the framing check: nothing reads the bytes
// a second time, nothing rewrites another server's answer, and every
// refusal is the gateway's own.
//
// # The parser is the framing check
//
// A request is smuggled when two HTTP processors disagree about where it
// ends: the front one sees one request, the one behind it sees two. Every
// such disagreement starts with bytes that RFC 9112 either forbids or lets
// a recipient read more than one way, so the parser refuses them instead
// of choosing a reading (each rule cites its section where it is enforced):
//
//   - Content-Length and Transfer-Encoding together, Content-Length twice
//     (even equal), as a list, with a sign or anything but digits.
//   - Transfer-Encoding other than exactly "chunked" (a list, an unknown
//     coding: 501), twice (501), with a tab around it (an obfuscation some
//     parsers strip), or on HTTP/1.0.
//   - obs-fold continuation lines, a bare LF or CR as a line end, NUL and
//     other control bytes in values, a header name that is not a token
//     (whitespace before the colon included), a line without a colon.
//   - Host missing on HTTP/1.1 or given twice.
//   - Targets other than origin-form: absolute-form (its authority could
//     disagree with Host), CONNECT (a tunnel), asterisk-form but for
//     "OPTIONS *" (answered by the engine itself, never by a route).
//   - Heads larger than the limit or with too many fields (431).
//   - Chunked bodies: a size that is not hex digits, whitespace before an
//     extension, an extension that is not token[=token/quoted-string],
//     more extension bytes per message than maxChunkExtSum (a flood is
//     work for every parser behind the gateway), data not followed by
//     CRLF, trailers that are malformed or too large. Trailers are never
//     merged into the header fields.
//
// The first framing error closes the connection after the refusal: once
// two parsers could disagree about where a message ends, nothing after it
// on the connection is trusted.
//
// # Serving
//
// A connection is served by one goroutine, with its buffers, request,
// header map, URL and response writer reused from request to request, so
// a plain request costs one allocation (the head as one string, which
// every field and the target are slices of). Pipelined requests are
// answered in order and their responses written together. Timeouts cover
// each phase: the idle wait for a request, the head from its first byte
// (a slowloris cannot stretch it by trickling), each body read (a body that
// stops arriving gets 408), and each write (WriteTimeout: a client that
// stops reading a response is cut off, the handler's Write fails and the
// connection ends). Deadlines are moved only when they change by more than
// deadlineSlack, so a busy connection does not reprogram timers per
// request.
//
// # The client leaving
//
// Once a request has been read to its end (its body included: a body
// being read is never mistaken for a close) and its handler has run for
// Server.WatchAfter (10 ms by default), the engine watches the connection
// until the handler returns, as net/http's server does from the start:
// when the client closes or resets it, the connection's context, every
// request's parent, is cancelled, so the handler's work (the upstream
// request) stops. Most requests are answered before WatchAfter and cost no
// watch (no goroutine, no wake-up, no hand-off); the price is that a client
// that leaves is noticed at most WatchAfter late. A per-connection timer
// starts the watch on its own goroutine; a mutex orders that start with the
// handler's return, so a watch is either never started or awaited.
// Bytes of a pipelined request end the watch and are answered next. On a
// plain socket the watch peeks (MSG_PEEK through the runtime's poller) and
// holds no buffer, so it need not be stopped when the handler returns: it
// goes on as the wait for the next request (woken then, it does not peek
// again: the read of the next head tells data from the end). On TLS it
// reads into the read buffer and is stopped when the handler returns.
//
// # Serving from inside the read callback
//
// On a plain socket a request whose handler never reads the socket (no
// body or a Content-Length body already whole in the buffer, no Upgrade,
// no Expect, not OPTIONS *) is read, parsed and answered
// inside one RawConn.Read callback, and the callback waits for the next
// request without a read after a read that took less than it could: within
// one RawConn.Read the runtime's poller keeps the readiness that arrives,
// where every new read or wait resets it (so the ordinary loop's wait must
// start with a peek). That saves one system call per keep-alive request.
// Any other request is left in the buffer for the ordinary loop. Inline,
// the handler holds the socket's read lock: Hijack is refused there, and
// the watch peeks through RawConn.Control on a timer (WatchAfter, then
// doubling up to a second) instead of waiting on the socket. See inline.go.
//
// # The upstream side
//
// ClientConn.FlushInWait holds back a bodiless request and sends it from
// inside the wait for its response (the callback of RawConn.Read, after
// the runtime's poller has registered the wait), so no read is made before
// the upstream can have answered. A pooled connection the upstream closed
// meets a reset that wakes the wait; one it half-closed would not, so the
// upstream client uses FlushInWait only on connections idle less than a
// second.
//
// The connection's context has one slot for a function to run when it
// ends (SetAbort, StopAbort; see connContext): the upstream client
// registers the abort of its exchange there, which costs no allocation
// where context.AfterFunc costs two per request.
//
// # Memory per connection
//
// A connection holds a 4 KiB read buffer (grown only for a head larger
// than that, up to MaxHeaderBytes, and dropped afterwards rather than
// pooled), a 4 KiB write buffer, its reused request, header maps and
// response writer (about 5 KiB), its context, and one goroutine. While a
// plain keep-alive connection is idle, its read and write buffers are back
// in their pools: TestIdleConnectionsHoldNoBuffers measured 14 KiB per
// idle connection (8 KiB of heap, the rest goroutine stack, client side
// of the loopback socket included) against 22 KiB with the buffers held.
// An idle TLS connection gives back its write buffer but keeps its read
// buffer (decrypted bytes may wait inside *tls.Conn, so only a read can
// wait for the next request), and *tls.Conn's own buffers come on top.
// Everything goes back to the pools when the connection ends.
//
// # Contract with handlers
//
// The *http.Request, its Header, URL and Body, and the http.ResponseWriter
// are valid until ServeHTTP returns; the engine reuses them for the next
// request on the connection. Strings taken from them stay valid. As with
// net/http's servers, the response's header fields are taken when
// WriteHeader is called: the value slices the handler put in the map may
// be reused by it afterwards (a proxy's pooled upstream response).
package http1
