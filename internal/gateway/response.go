package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/upstream"
)

// The last stage: the upstream's response on its way to the client.

// detailUndeliverable is the client-facing text of a response the gateway
// will not pass on.
const detailUndeliverable = "The service's response could not be delivered."

// respond sends the upstream's response: an upgrade becomes a tunnel;
// otherwise hop-by-hop headers are removed, internal URIs mapped or
// removed (respuris.go), a redirect's body dropped, the response policies
// and body filters applied, and the body streamed.
func (x *exchange) respond(resp *http.Response, t *upstream.Target) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		x.tunnel(resp)
		return
	}
	defer resp.Body.Close()
	r, rt, c := x.r, x.rt, x.c

	rh := resp.Header
	removeHopHeaders(rh)
	if x.upgrade != "" {
		// The framing checker stops at an upgrade request; a refused
		// upgrade ends the connection rather than trusting what follows.
		rh["Connection"] = []string{"close"}
	}
	if !x.h.rewriteResponseURIs(rh, resp.StatusCode, r, t, x.match, rt, x.upPath) {
		x.refuse(http.StatusBadGateway, detailUndeliverable, "response: redirect to an internal URI with no public form")
		return
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		// A redirect's body is the upstream's page about its own URL:
		// replaced with nothing (the Location header is what clients use).
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrainedRedirect) // lets the connection be reused
		resp.Body = http.NoBody
		rh["Content-Length"] = []string{"0"}
		delete(rh, "Content-Type")
		delete(rh, "Content-Encoding")
	}
	for _, p := range rt.response {
		p.Respond(c, resp.StatusCode, rh)
	}
	body, ok := x.filterBody(resp, rh)
	if !ok {
		return
	}
	dst := x.w.Header()
	copyResponseHeader(dst, rh, x.h.hsts != "", r.TLS != nil)
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	x.w.WriteHeader(resp.StatusCode)
	x.out.status = resp.StatusCode

	flush := resp.ContentLength < 0 || strings.HasPrefix(rh.Get("Content-Type"), "text/event-stream")
	n, err := copyBody(x.w, body, flush)
	x.out.bytesOut = n
	if err != nil {
		// Headers are gone: the only honest signal left is to abort the
		// stream, so the client sees a truncated response, not a complete one.
		x.out.reason = "response body copy: " + err.Error()
		x.out.abort = !errors.Is(err, context.Canceled) && r.Context().Err() == nil
		if x.out.abort {
			// A response with a known length is buffered: aborting now
			// would close the connection before its head left, and the
			// client would get no answer at all. Send what was written, so
			// it sees the head and a body cut short.
			_ = http.NewResponseController(x.w).Flush()
		}
		return
	}
	for k, vs := range resp.Trailer {
		// Copied: the upstream connection reuses its trailer values once
		// the body is closed (below), and an HTTP/2 server sends trailers
		// after the handler returned.
		dst[http.TrailerPrefix+k] = append([]string(nil), vs...)
	}
}

// filterBody runs the route's body filters (filter_fields, hide_errors)
// before the status line is written: one that fails refuses the response
// (502) rather than let the unfiltered body through, and ok is false.
func (x *exchange) filterBody(resp *http.Response, rh http.Header) (body io.Reader, ok bool) {
	body = resp.Body
	for _, p := range x.rt.response {
		bf, ok := p.(pipeline.ResponseBodyFilter)
		if !ok {
			continue
		}
		nb, err := bf.FilterResponse(x.c, resp.StatusCode, rh, body)
		if err != nil {
			x.refuse(http.StatusBadGateway, detailUndeliverable, "response filter: "+err.Error())
			return nil, false
		}
		if nb == body {
			continue
		}
		body = nb
		if l, ok := nb.(interface{ Len() int }); ok && x.r.Method != http.MethodHead {
			rh["Content-Length"] = []string{strconv.Itoa(l.Len())}
		} else {
			delete(rh, "Content-Length")
		}
	}
	return body, true
}

// copyResponseHeader copies the upstream's response header src (hop-by-hop
// headers already removed) to the client's dst, leaving out what the
// gateway decides itself: X-Request-Id (the gateway's), Server and
// X-Powered-By (they name the upstream's software), and
// Strict-Transport-Security when the listener sets its own (hsts) or the
// client connection is plain HTTP, where RFC 6797 section 7.2 forbids it.
func copyResponseHeader(dst, src http.Header, hsts, tls bool) {
	for k, vs := range src {
		switch k {
		case "X-Request-Id", "Server", "X-Powered-By":
			continue
		case "Strict-Transport-Security":
			if hsts || !tls {
				continue
			}
		}
		dst[k] = vs
	}
}

// maxDrainedRedirect is how much of a redirect's body is read and thrown
// away so that its connection can be reused; a longer body closes it.
const maxDrainedRedirect = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody streams the upstream body to the client, flushing after each
// read when the response is a stream (SSE, chunked).
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var fl http.Flusher
	if flush {
		fl, _ = w.(http.Flusher)
	}
	var total int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			total += int64(wn)
			if werr != nil {
				return total, werr
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// tunnelGrace is how long an upgraded connection's second direction may
// go on after the first has ended.
const tunnelGrace = 5 * time.Second

// tunnel finishes a protocol upgrade (WebSocket): it hands the client
// connection and the upstream connection to each other.
func (x *exchange) tunnel(resp *http.Response) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	got := upgradeType(resp.Header)
	if !ok || x.upgrade == "" || !strings.EqualFold(got, x.upgrade) {
		resp.Body.Close()
		x.refuse(http.StatusBadGateway, "The service could not be reached.", "upstream switched to an unrequested protocol")
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(x.w).Hijack()
	if err != nil {
		x.refuse(http.StatusBadGateway, "The service could not be reached.", "hijack: "+err.Error())
		return
	}
	defer conn.Close()
	rh := resp.Header
	removeHopHeaders(rh)
	for k, vs := range x.w.Header() {
		if _, ok := rh[k]; !ok {
			rh[k] = vs
		}
	}
	rh["Connection"] = []string{"Upgrade"}
	rh["Upgrade"] = []string{got}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = rh.Write(brw)
	_, _ = brw.WriteString("\r\n")
	x.out.status = http.StatusSwitchingProtocols
	if err := brw.Flush(); err != nil {
		x.out.reason = "write 101: " + err.Error()
		return
	}
	// Each direction half-closes its destination when its source ends; once
	// one direction is done the other gets a short grace period, then both
	// connections close (deferred above), so a half-dead peer cannot pin
	// the tunnel forever.
	done := make(chan int64, 2)
	go func() { _, _ = io.Copy(up, brw.Reader); closeWrite(up); done <- 0 }()
	go func() { n, _ := io.Copy(conn, up); closeWrite(conn); done <- n }()
	x.out.bytesOut += <-done
	select {
	case n := <-done:
		x.out.bytesOut += n
	case <-time.After(tunnelGrace):
	}
}

func closeWrite(c any) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
