package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares this package's HTTP/1.1 client with a tuned
// http.Transport against the same loopback upstream.
func BenchmarkRoundTrip(b *testing.B) {
	payload := []byte("hello, world\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(payload)
	}))
	defer up.Close()

	run := func(b *testing.B, rt func(*http.Request) (*http.Response, error), host string) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 512)
			for pb.Next() {
				req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+host+"/bench", nil)
				// A cancellable context, as server requests have.
				ctx, cancel := context.WithCancel(req.Context())
				req = req.WithContext(ctx)
				resp, err := rt(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				cancel()
			}
		})
	}

	b.Run("portcullis", func(b *testing.B) {
		r := NewRegistry()
		defer r.Close()
		s, err := r.Service(svcConfig(up.URL))
		if err != nil {
			b.Fatal(err)
		}
		tg, _ := s.Pick("")
		defer tg.Release()
		run(b, tg.RoundTrip, tg.Host())
	})
	b.Run("http.Transport", func(b *testing.B) {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		run(b, tr.RoundTrip, up.Listener.Addr().String())
	})
}
