// Command ceiling-engine is the upper bound of a proxy built on Portcullis's
// own HTTP/1.1 engine (internal/http1): the engine's server in front of a
// bare pooled keep-alive client that writes the request by hand and reads
// the response with the engine's response parser. Like bench/ceiling (the
// same idea on net/http's server) it does nothing else: no normalization,
// no routing, no forwarding headers, no timeouts beyond the header timeout,
// no error handling worth the name. It shows what the engine design leaves
// for the gateway's own work.
//
// Usage:
//
//	ceiling-engine -listen 127.0.0.1:19107 -upstream 127.0.0.1:19000
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/runtimetune"
)

type pool struct {
	addr string
	mu   sync.Mutex
	idle []*http1.ClientConn
}

func (p *pool) get() (*http1.ClientConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return http1.NewClientConn(nc), nil
}

func (p *pool) put(c *http1.ClientConn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func main() {
	listen := flag.String("listen", "127.0.0.1:19107", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19000", "upstream host:port")
	flag.Parse()
	debug.SetGCPercent(runtimetune.DefaultGCPercent)
	p := &pool{addr: *upstream}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := p.get()
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		bw := c.Writer()
		bw.WriteString(r.Method)
		bw.WriteByte(' ')
		bw.WriteString(r.RequestURI)
		bw.WriteString(" HTTP/1.1\r\nHost: ")
		bw.WriteString(*upstream)
		bw.WriteString("\r\n")
		for k, vv := range r.Header {
			if k == "Connection" {
				continue
			}
			for _, v := range vv {
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		if r.ContentLength > 0 {
			bw.WriteString("Content-Length: ")
			bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
			bw.WriteString("\r\n")
		}
		bw.WriteString("\r\n")
		if r.ContentLength > 0 {
			_, err = io.CopyN(bw, r.Body, r.ContentLength)
		}
		if err == nil {
			if r.ContentLength > 0 {
				err = bw.Flush()
			} else {
				err = c.FlushInWait() // sent from inside the wait for the response
			}
		}
		var resp *http.Response
		if err == nil {
			resp, err = c.ReadResponse(r.Method)
		}
		if err != nil {
			_ = c.Close()
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		dst := w.Header()
		share := resp.ContentLength >= 0 // the engine commits the head in WriteHeader
		for k, v := range resp.Header {
			if k == "Connection" || k == "Keep-Alive" {
				continue
			}
			if !share {
				v = append([]string(nil), v...)
			}
			dst[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		bp := bufs.Get().(*[]byte)
		_, err = io.CopyBuffer(w, resp.Body, *bp)
		bufs.Put(bp)
		if err != nil || !c.Reusable() {
			_ = c.Close()
			return
		}
		p.put(c)
	})
	srv := &http1.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 75 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(ln))
}
