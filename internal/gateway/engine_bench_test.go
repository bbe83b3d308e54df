package gateway

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/internal/http1"
)

// rawUpstream answers every request on its connections with a fixed "ok"
// response, allocating nothing per request, so a benchmark's allocations
// are the gateway's.
func rawUpstream(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
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
	h := benchGatewayTo(b, up, "off", "")
	srv := &http1.Server{Handler: h, Refuse: h.gw.refuseMalformed}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = l.Close(); srv.Close() })

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /ok HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
				head := buf[:end]
				i := bytes.Index(head, []byte("Content-Length: "))
				if i < 0 || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
					b.Fatalf("response %q", buf[:n])
				}
				j := bytes.IndexByte(head[i:], '\r')
				if j < 0 {
					j = len(head) - i
				}
				cl, _ := strconv.Atoi(string(head[i+16 : i+j]))
				if n >= end+4+cl {
					return
				}
			}
		}
	}
	roundTrip() // the upstream connection is dialed outside the measurement
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
}
