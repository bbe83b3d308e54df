package events

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/metrics"
)

func newTestStream(t *testing.T, cfg config.SecurityEvents) (*Stream, *Families, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if cfg.Output == "" {
		cfg.Output = path
	}
	fam := NewFamilies(metrics.New())
	s, err := New(cfg, fam, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, fam, path
}

func lines(t *testing.T, path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

func TestRateCapPerCategory(t *testing.T) {
	s, fam, path := newTestStream(t, config.SecurityEvents{MaxPerSecond: 10})
	now := time.Now()
	for range 500 {
		s.Emit(&Event{Time: now, Type: "refusal", Category: CategoryAuthentication, Reason: "unknown key"})
	}
	for range 5 {
		s.Emit(&Event{Time: now, Type: "refusal", Category: CategoryWAF, Reason: "waf: rule 949110"})
	}
	s.Close()
	if n := lines(t, path); n != 15 {
		t.Errorf("%d events written, want 10 authentication + 5 waf", n)
	}
	if v := testutil.ToFloat64(fam.suppressed.WithLabelValues(CategoryAuthentication, "rate_capped")); v != 490 {
		t.Errorf("suppressed %v, want 490", v)
	}
}

func TestRateCapRenewsEachSecond(t *testing.T) {
	s, _, path := newTestStream(t, config.SecurityEvents{MaxPerSecond: 3})
	base := time.Unix(1_700_000_000, 0)
	for sec := range 3 {
		for range 10 {
			s.Emit(&Event{Time: base.Add(time.Duration(sec) * time.Second), Category: CategoryLimits, Reason: "x"})
		}
	}
	s.Close()
	if n := lines(t, path); n != 9 {
		t.Errorf("%d events over 3 seconds, want 9", n)
	}
}

func TestSampling(t *testing.T) {
	half := 0.5
	s, fam, path := newTestStream(t, config.SecurityEvents{Sample: &half, MaxPerSecond: 100000})
	for range 4000 {
		s.Emit(&Event{Time: time.Now(), Category: CategoryNormalization, Reason: "path"})
	}
	s.Close()
	n := lines(t, path)
	if n < 1700 || n > 2300 {
		t.Errorf("%d of 4000 kept with sample 0.5", n)
	}
	if v := testutil.ToFloat64(fam.suppressed.WithLabelValues(CategoryNormalization, "sampled")); int(v)+n != 4000 {
		t.Errorf("sampled %v + written %d != 4000", v, n)
	}
}

func TestAlertsAreNeverSampledOrCapped(t *testing.T) {
	tiny := 0.0001
	s, _, path := newTestStream(t, config.SecurityEvents{Sample: &tiny, MaxPerSecond: 1})
	for range 5 {
		s.Emit(&Event{Time: time.Now(), Type: "alert", Category: CategoryAlert, Reason: "error rate", Alert: &AlertInfo{Name: "x", State: "firing"}})
	}
	s.Close()
	if n := lines(t, path); n != 5 {
		t.Errorf("%d alerts written, want 5", n)
	}
}

// TestSlowWebhookNeverBlocks: a receiver that hangs does not make Emit
// wait; the queue takes what it can and drops the rest, counted.
func TestSlowWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	s, fam, _ := newTestStream(t, config.SecurityEvents{Output: "off", MaxPerSecond: 1_000_000,
		Webhooks: []config.AlertWebhook{{URL: srv.URL}}, WebhookBatchSize: 1})
	start := time.Now()
	for range queueSize + 500 {
		s.Emit(&Event{Time: time.Now(), Category: CategoryLimits, Reason: "x"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("emitting took %s with a hung receiver", d)
	}
	if v := testutil.ToFloat64(fam.dropped.WithLabelValues("webhook")); v < 400 {
		t.Errorf("dropped %v, want the overflow counted", v)
	}
}

// TestWebhookRetriesWithBackoff: a receiver failing twice gets the same
// batch a third time.
func TestWebhookRetriesWithBackoff(t *testing.T) {
	var calls atomic.Int64
	var times [3]time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n <= 3 {
			times[n-1] = time.Now()
		}
		if n < 3 {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	s, fam, _ := newTestStream(t, config.SecurityEvents{Output: "off", Webhooks: []config.AlertWebhook{{URL: srv.URL, Secret: "k"}},
		WebhookBatchInterval: config.Duration(10 * time.Millisecond)})
	s.Emit(&Event{Time: time.Now(), Category: CategoryWAF, Reason: "x"})
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(fam.delivered.WithLabelValues("webhook", "sent")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after %d calls", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	if gap1, gap2 := times[1].Sub(times[0]), times[2].Sub(times[1]); gap1 < backoffBase || gap2 < 2*backoffBase {
		t.Errorf("retries at %s and %s, want exponential backoff from %s", gap1, gap2, backoffBase)
	}
}

func TestSyslogFormat(t *testing.T) {
	ss := &syslogSink{facility: 16, host: "gw1", app: "portcullis", procid: "42"}
	ev := &Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Type: "refusal", Category: "waf", Route: `we"ird]\route`, Reason: "waf: rule 949110", Rule: "942100", Status: 403}
	got := string(ss.format(ev))
	want := `<132>1 2026-01-02T03:04:05.000006Z gw1 portcullis 42 waf [portcullis@32473 type="refusal" route="we\"ird\]\\route" reason="waf: rule 949110" rule="942100" status="403"] ` + "\ufeff{"
	if !strings.HasPrefix(got, want) {
		t.Errorf("got  %q\nwant %q...", got, want)
	}
}

// TestWebhookRetriesZeroIsOneAttempt: webhook_retries: 0 is what it says,
// one attempt and no retry (it used to mean the default, three).
func TestWebhookRetriesZeroIsOneAttempt(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	s, fam, _ := newTestStream(t, config.SecurityEvents{Output: "off", Webhooks: []config.AlertWebhook{{URL: srv.URL, Secret: "k"}},
		WebhookBatchInterval: config.Duration(10 * time.Millisecond), WebhookRetries: new(0)})
	s.Emit(&Event{Time: time.Now(), Category: CategoryWAF, Reason: "x"})
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(fam.delivered.WithLabelValues("webhook", "failed")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery after %d calls", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * backoffBase) // a retry would have come by now
	s.Close()
	if n := calls.Load(); n != 1 {
		t.Fatalf("the receiver got %d attempts, want 1", n)
	}
}
