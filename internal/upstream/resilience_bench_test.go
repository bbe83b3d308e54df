package upstream

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// BenchmarkPick measures Pick and Release over four targets, bare and with
// every resilience check on (active health, passive health, breaker), and
// with one target's breaker open (the scan that skips it).
func BenchmarkPick(b *testing.B) {
	urls := []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3", "http://127.0.0.1:4"}
	resilient := func() config.Service {
		cfg := svcConfig(urls...)
		cfg.HealthCheck = &config.HealthCheck{Path: "/healthz", Interval: config.Duration(time.Hour), Timeout: config.Duration(time.Second)}
		cfg.Passive = &config.PassiveHealth{}
		cfg.CircuitBreaker = &config.CircuitBreaker{}
		return cfg
	}
	run := func(b *testing.B, cfg config.Service, prep func(*Service)) {
		r := newRegistry(time.Hour, time.Hour)
		defer r.Close()
		s, err := r.Service(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if prep != nil {
			prep(s)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t, err := s.Pick("")
				if err != nil {
					b.Fatal(err)
				}
				t.Release()
			}
		})
	}
	b.Run("plain", func(b *testing.B) { run(b, svcConfig(urls...), nil) })
	b.Run("resilient", func(b *testing.B) { run(b, resilient(), nil) })
	b.Run("one_open", func(b *testing.B) {
		run(b, resilient(), func(s *Service) {
			s.targets[1].p.br.toOpen(time.Now().Add(time.Hour))
		})
	})
	b.Run("least_connections_resilient", func(b *testing.B) {
		cfg := resilient()
		cfg.LoadBalancing.Algorithm = "least_connections"
		run(b, cfg, nil)
	})
}
