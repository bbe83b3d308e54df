// Command ceiling is the benchmark's upper bound for a proxy built the way
// Portcullis is: the net/http server in front of a hand-written keep-alive
// HTTP/1.1 client (Request.Write and http.ReadResponse over a pool of
// connections). It does nothing else: no normalization, no routing, no
// forwarding headers, no timeouts, no error handling worth the name. It is
// not a proxy anyone should run; it shows, in the same run, how much of the
// gap to nginx belongs to the architecture and how much to the gateway.
//
// Usage:
//
//	ceiling -listen 127.0.0.1:19104 -upstream 127.0.0.1:19000
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/runtimetune"
)

type upConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

type pool struct {
	addr string
	mu   sync.Mutex
	idle []*upConn
}

func (p *pool) get() (*upConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func (p *pool) put(c *upConn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func main() {
	listen := flag.String("listen", "127.0.0.1:19104", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19000", "upstream host:port")
	flag.Parse()
	// The collector target Portcullis runs with (internal/runtimetune),
	// so that this stays an upper bound rather than a differently tuned peer.
	debug.SetGCPercent(runtimetune.DefaultGCPercent)
	p := &pool{addr: *upstream}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := p.get()
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		r.URL.Scheme, r.URL.Host = "http", *upstream
		err = r.Write(c.bw)
		if err == nil {
			err = c.bw.Flush()
		}
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(c.br, r)
		}
		if err != nil {
			_ = c.c.Close()
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		bp := bufs.Get().(*[]byte)
		_, err = io.CopyBuffer(w, resp.Body, *bp)
		bufs.Put(bp)
		_ = resp.Body.Close()
		if err != nil || resp.Close {
			_ = c.c.Close()
			return
		}
		p.put(c)
	})
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
