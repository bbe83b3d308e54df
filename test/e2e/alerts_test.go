package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestThresholdAlertThroughTheBinary: a route whose upstream is down
// crosses its error-rate threshold; one alert event reaches the event
// stream (and the alerts_firing gauge), and continued failures within the
// band do not send it again.
func TestThresholdAlertThroughTheBinary(t *testing.T) {
	up := NewUpstream(t, nil)
	eventsFile := filepath.Join(t.TempDir(), "events.jsonl")
	dead := freeAddr(t)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
  - name: down
    targets: [{url: "http://%s"}]
routes:
  - name: ok
    paths: [{prefix: /ok}]
    service: svc
  - name: broken
    paths: [{prefix: /broken}]
    service: down
ops:
  address: "{{ops}}"
observability:
  security_events: {output: %s}
  alerts:
    evaluate_every: 100ms
    rules:
      - {name: broken-errors, metric: error_rate, window: 3s, above: 0.5, below: 0.1, min_requests: 3}
`, up.URL, dead, eventsFile)))

	alertsIn := func() []map[string]any {
		var out []map[string]any
		for _, ev := range readEventLines(t, eventsFile) {
			if ev["type"] == "alert" {
				out = append(out, ev)
			}
		}
		return out
	}
	deadline := time.Now().Add(4 * time.Second)
	for len(alertsIn()) == 0 {
		resp, err := http.Get(gw.URL("/broken/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = http.Get(gw.URL("/ok/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no alert; events: %v\nstderr: %s", readEventLines(t, eventsFile), gw.Stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Failures go on for longer than a window: the alert is not sent again.
	end := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(end) {
		resp, err := http.Get(gw.URL("/broken/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(20 * time.Millisecond)
	}
	got := alertsIn()
	if len(got) != 1 {
		t.Fatalf("%d alert events, want 1: %v", len(got), got)
	}
	a := got[0]
	info, _ := a["alert"].(map[string]any)
	if a["category"] != "alert" || a["route"] != "broken" || info["name"] != "broken-errors" || info["state"] != "firing" || info["value"].(float64) <= 0.5 {
		t.Errorf("alert event %v", a)
	}
	if v := metricValue(scrape(t, gw), "portcullis_alerts_firing", labels("alert", "broken-errors", "route", "broken")); v != 1 {
		t.Errorf("alerts_firing = %v", v)
	}
	if !gw.WaitLog(`"msg":"threshold alert"`, time.Second) {
		t.Errorf("no threshold alert in the process log")
	}
	if len(readEventLines(t, eventsFile)) == 0 {
		t.Fatal("no events")
	}
	for _, ev := range alertsIn() {
		if ev["route"] == "ok" {
			t.Errorf("the healthy route alerted: %v", ev)
		}
	}
}
