// Command goproxy is the benchmark's yardstick: the plainest reasonable Go
// reverse proxy, net/http/httputil.ReverseProxy with pooled copy buffers
// and a keep-alive transport sized for the benchmark's connection count.
// Portcullis is compared with it to see what the gateway's own work costs
// on top of what any Go proxy pays.
//
// Usage:
//
//	goproxy -listen 127.0.0.1:19101 -upstream http://127.0.0.1:19000
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19101", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:19000", "upstream base URL")
	flag.Parse()

	h, err := newProxy(*upstream)
	if err != nil {
		log.Printf("goproxy: %v", err)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("goproxy: %s -> %s", *listen, *upstream)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("goproxy: %v", err)
		os.Exit(1)
	}
}

// newProxy returns a reverse proxy to the upstream base URL.
func newProxy(upstream string) (http.Handler, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("parse -upstream %q: %w", upstream, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want http://host:port", upstream)
	}
	transport := &http.Transport{
		Proxy:               nil, // loopback benchmark: never an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256, // the default of 2 would reconnect constantly under 64 clients
		IdleConnTimeout:     90 * time.Second,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: newBufferPool(32 * 1024),
	}, nil
}

// bufferPool is an httputil.BufferPool over sync.Pool: without it every
// proxied response allocates a fresh 32 KiB copy buffer.
type bufferPool struct{ p sync.Pool }

func newBufferPool(size int) *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}}}
}

func (bp *bufferPool) Get() []byte { return *(bp.p.Get().(*[]byte)) }

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }
