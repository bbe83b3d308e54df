package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// balanceConfig is a gateway with one service over three recording
// upstreams, balanced as lb says.
func balanceConfig(ups []*Upstream, weights []int, lb string) GatewayConfig {
	targets := ""
	for i, u := range ups {
		targets += fmt.Sprintf("      - {url: %q, weight: %d}\n", u.URL, weights[i])
	}
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - name: svc
    targets:
%s    load_balancing: %s
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
ops: {address: "{{ops}}"}
access_log: {output: "off"}
`, targets, lb))
}

func getStatus(t *testing.T, req *http.Request) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestBalanceWeightedRoundRobin(t *testing.T) {
	ups := []*Upstream{NewUpstream(t, nil), NewUpstream(t, nil), NewUpstream(t, nil)}
	gw := StartGateway(t, balanceConfig(ups, []int{1, 2, 3}, "{algorithm: round_robin}"))
	for i := 0; i < 60; i++ {
		req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
		getStatus(t, req)
	}
	// Smooth weighted round robin is exact over whole cycles of 6.
	for i, want := range []int{10, 20, 30} {
		if got := ups[i].Count(); got != want {
			t.Errorf("target %d (weight %d) got %d requests, want %d", i, i+1, got, want)
		}
	}
}

func TestBalanceConsistentHashOnHeader(t *testing.T) {
	ups := []*Upstream{NewUpstream(t, nil), NewUpstream(t, nil), NewUpstream(t, nil)}
	gw := StartGateway(t, balanceConfig(ups, []int{1, 1, 1}, "{algorithm: consistent_hash, hash_on: header, hash_header: X-Tenant}"))
	owner := map[string]int{}
	for round := 0; round < 3; round++ {
		for tenant := 0; tenant < 30; tenant++ {
			key := fmt.Sprintf("tenant-%d", tenant)
			before := make([]int, len(ups))
			for i, u := range ups {
				before[i] = u.Count()
			}
			req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
			req.Header.Set("X-Tenant", key)
			getStatus(t, req)
			hit := -1
			for i, u := range ups {
				if u.Count() != before[i] {
					hit = i
				}
			}
			if prev, ok := owner[key]; ok && prev != hit {
				t.Fatalf("%s moved from target %d to %d", key, prev, hit)
			}
			owner[key] = hit
		}
	}
	used := map[int]bool{}
	for _, i := range owner {
		used[i] = true
	}
	if len(used) < 2 {
		t.Fatalf("30 keys all hashed to one target: %v", owner)
	}
}

func TestBalanceLeastConnectionsAvoidsBusyTarget(t *testing.T) {
	release := make(chan struct{})
	slow := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	fast := NewUpstream(t, nil)
	gw := StartGateway(t, balanceConfig([]*Upstream{slow, fast}, []int{1, 1}, "{algorithm: least_connections}"))
	// Pin one request on each target until slow holds one in flight.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for slow.Count() == 0 {
			resp, err := http.Get(gw.URL("/slow"))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	for slow.Count() == 0 {
		time.Sleep(time.Millisecond)
	}
	fast.Reset()
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", gw.URL("/fast"), nil)
		getStatus(t, req)
	}
	if got := fast.Count(); got != 10 {
		t.Errorf("with a request in flight on the other target, the idle one got %d of 10", got)
	}
	close(release)
	<-done
}
