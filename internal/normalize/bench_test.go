package normalize

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// streamConn is a net.Conn whose reads replay one buffer of requests
// forever, in reads of at most chunk bytes, like a busy keep-alive client.
type streamConn struct {
	net.Conn
	data  []byte
	off   int
	chunk int
}

func (s *streamConn) Read(b []byte) (int, error) {
	if s.off == len(s.data) {
		s.off = 0
	}
	n := copy(b[:min(len(b), s.chunk)], s.data[s.off:])
	s.off += n
	return n, nil
}

func (s *streamConn) SetReadDeadline(time.Time) error { return nil }

// typicalRequests is one round of browser- and API-like requests.
var typicalRequests = strings.Join([]string{
	"GET /api/v1/users/42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, br\r\nAuthorization: Bearer eyJhbGciOi.eyJzdWIi.sig\r\n" +
		"Cookie: session=abcdef0123456789\r\nX-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n\r\n",
	"POST /api/v1/orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 27\r\n" +
		"Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig\r\n\r\n{\"item\":\"book\",\"count\":2}\n",
	"PUT /upload HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"10\r\n0123456789abcdef\r\n4\r\nwxyz\r\n0\r\n\r\n",
}, "")

func BenchmarkConnRead(b *testing.B) {
	const rounds = 16 // requests per replayed buffer: 3*rounds
	data := []byte(strings.Repeat(typicalRequests, rounds))
	for _, chunk := range []int{4096, 512} {
		b.Run("read"+strconv.Itoa(chunk), func(b *testing.B) {
			c := WrapConn(&streamConn{data: data, chunk: chunk})
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for n := 0; n < len(data); {
					m, _ := c.Read(buf)
					n += m
				}
				for range 3 * rounds {
					if err := c.Next(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkPlainRead is the same stream without the wrapper, for scale.
func BenchmarkPlainRead(b *testing.B) {
	data := []byte(strings.Repeat(typicalRequests, 16))
	var c io.Reader = &streamConn{data: data, chunk: 4096}
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for n := 0; n < len(data); {
			m, _ := c.Read(buf)
			n += m
		}
	}
}
