package normalize

import (
	"bytes"
	"strconv"
)

// net/http's server answers a request it cannot parse (a malformed request
// line or header, an unknown transfer coding, a head over the size limit)
// itself, with one Write of a fixed plain-text response, before any handler
// runs, and then closes the connection. Conn can recognise that response
// and hand it to an ErrorRewriter, so the client gets the gateway's JSON
// problem body and the gateway can log the refusal like any other.
//
// The shape is exact: "HTTP/1.1 NNN Text" + cannedHeaders + a short body.
// A response written through a handler never has it (net/http sorts the
// header names, so Connection would come before Content-Type, and adds
// Date). Only a response body could hold those bytes, and bodies are only
// written while a handler is in flight, which Conn tracks: BeginResponse
// when a handler starts, ResponseDone when net/http has finished the
// response (http.StateIdle). Nothing is rewritten while one is in flight.

// cannedHeaders follows the status line of every net/http parse-error
// response.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// maxCanned bounds what is examined: net/http's texts are short.
const maxCanned = 512

// ErrorRewriter returns the bytes to send instead of net/http's plain-text
// answer with this status; reason is net/http's text ("missing required
// Host header", "Unsupported transfer encoding", ...).
type ErrorRewriter func(status int, reason string) []byte

// SetErrorRewriter installs f; call it before the connection is served.
func (c *Conn) SetErrorRewriter(f ErrorRewriter) { c.rewrite = f }

// BeginResponse records that a handler started answering a request on this
// connection.
func (c *Conn) BeginResponse() {
	c.mu.Lock()
	c.begun++
	c.mu.Unlock()
}

// ResponseDone records that net/http finished a response on this
// connection (from http.Server.ConnState on http.StateIdle).
func (c *Conn) ResponseDone() {
	c.mu.Lock()
	c.done++
	c.mu.Unlock()
}

// Write passes b through, unless it is net/http's own parse-error answer
// written while no handler is in flight and a rewriter is installed.
func (c *Conn) Write(b []byte) (int, error) {
	if c.rewrite != nil && len(b) <= maxCanned {
		if status, reason, ok := parseCanned(b); ok {
			c.mu.Lock()
			idle := c.done >= c.begun
			c.mu.Unlock()
			if idle {
				if _, err := c.Conn.Write(c.rewrite(status, reason)); err != nil {
					return 0, err
				}
				return len(b), nil
			}
		}
	}
	return c.Conn.Write(b)
}

// parseCanned recognises net/http's parse-error response: the status and
// the most specific text it gives ("Bad Request: <why>" in the status line
// wins over the body).
func parseCanned(b []byte) (int, string, bool) {
	const prefix = "HTTP/1.1 "
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return 0, "", false
	}
	i := bytes.Index(b, []byte(cannedHeaders))
	if i < len(prefix)+4 || len(b) == i+len(cannedHeaders) {
		return 0, "", false
	}
	line := b[len(prefix):i]
	if bytes.ContainsAny(line, "\r\n") || line[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	text := string(line[4:])
	if j := bytes.Index(line, []byte(": ")); j >= 0 {
		return status, string(line[j+2:]), true
	}
	body := b[i+len(cannedHeaders):]
	if bytes.ContainsAny(body, "\r\n") {
		return 0, "", false
	}
	if string(body) != strconv.Itoa(status)+" "+text {
		text = string(body) // e.g. "Unsupported transfer encoding"
	}
	return status, text, true
}
