package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Event stream shape for GET /events.
const (
	eventCount    = 5
	eventInterval = 200 * time.Millisecond
)

// echo is the JSON answer describing the request as this server saw it.
type echo struct {
	Server string `json:"server"`
	Method string `json:"method"`
	// Path is the decoded path; RawPath is the request target exactly as
	// it arrived on the wire (path and query, still percent-encoded).
	Path       string              `json:"path"`
	RawPath    string              `json:"raw_path"`
	Query      string              `json:"query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Proto      string              `json:"proto"`
	Headers    map[string][]string `json:"headers"`
	BodySize   int64               `json:"body_size"`
}

// newHandler returns the demo server's handler. self is the server's own
// base URL (http://host:port), used by /redirect.
//
// It dispatches by hand instead of with http.ServeMux because ServeMux
// cleans paths and redirects (//a, /a/../b): an echo server must show the
// path exactly as the gateway sent it.
func newHandler(name, self string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch r.URL.Path {
			case "/ok":
				serveOK(w)
				return
			case "/events":
				serveEvents(w, r, name)
				return
			case "/redirect":
				// An absolute URL naming this server: a gateway that hides
				// its upstreams has to rewrite it.
				http.Redirect(w, r, self+"/internal/landing", http.StatusFound)
				return
			}
		}
		serveEcho(w, r, name)
	})
}

func serveOK(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}

func serveEcho(w http.ResponseWriter, r *http.Request, name string) {
	// Read the whole body only to count it; a read error (client gone,
	// size limit) just ends the count.
	n, _ := io.Copy(io.Discard, r.Body)
	e := echo{
		Server:     name,
		Method:     r.Method,
		Path:       r.URL.Path,
		RawPath:    r.RequestURI,
		Query:      r.URL.RawQuery,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		Proto:      r.Proto,
		Headers:    r.Header,
		BodySize:   n,
	}
	body, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		http.Error(w, "encode echo: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// tick is the data of one server-sent event.
type tick struct {
	Server string `json:"server"`
	N      int    `json:"n"`
	Time   string `json:"time"`
}

// serveEvents streams eventCount server-sent events, flushing each so that
// a proxy that buffers responses shows up at once.
func serveEvents(w http.ResponseWriter, r *http.Request, name string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	t := time.NewTicker(eventInterval)
	defer t.Stop()
	for i := 1; i <= eventCount; i++ {
		if i > 1 {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
		}
		data, err := json.Marshal(tick{Server: name, N: i, Time: time.Now().UTC().Format(time.RFC3339Nano)})
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", i, data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
