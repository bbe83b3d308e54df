// Command fasthttpproxy is a reference target of the load harness: a reverse
// proxy built on fasthttp's server and its pooled HostClient, the fastest
// HTTP/1.1 design available in Go. It is not part of Portcullis (a separate
// module, so the gateway never links fasthttp); it shows, in the same run,
// what a Go proxy that owns its HTTP/1.1 code can reach on this machine, so
// that the engine's ceiling (bench/ceiling-engine) is judged against it.
//
// Usage:
//
//	fasthttpproxy -listen 127.0.0.1:19106 -upstream 127.0.0.1:19000
package main

import (
	"flag"
	"log"
	"runtime/debug"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19106", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19000", "upstream host:port")
	flag.Parse()
	// The collector target Portcullis and the ceilings run with
	// (internal/runtimetune.DefaultGCPercent), so that the comparison is
	// between designs, not collector settings.
	debug.SetGCPercent(400)

	client := &fasthttp.HostClient{
		Addr:                          *upstream,
		MaxConns:                      1024,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Del("Connection")
		if err := client.Do(req, &ctx.Response); err != nil {
			ctx.ResetBody()
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			return
		}
		ctx.Response.Header.Del("Connection")
	}
	srv := &fasthttp.Server{
		Handler:                       handler,
		Name:                          "fasthttpproxy",
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
	}
	log.Printf("fasthttpproxy: %s -> %s", *listen, *upstream)
	log.Fatal(srv.ListenAndServe(*listen))
}
