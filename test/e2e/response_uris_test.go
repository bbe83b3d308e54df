package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestObfuscatedURIsNeverLeak: behind a route with rewrite (obfuscated
// URIs), no response header and no redirect body names the service's
// internal paths or its address, however the upstream spells them: each
// URI is mapped to its public form, or removed (a redirect that cannot be
// mapped becomes a 502).
func TestObfuscatedURIsNeverLeak(t *testing.T) {
	const internal = "/internal/7f3a9c/orders-svc"
	var upAddr string
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		status := http.StatusFound
		switch r.URL.Query().Get("case") {
		case "elsewhere-in-tree":
			h.Set("Location", "/internal/7f3a9c/login")
		case "absolute-elsewhere":
			h.Set("Location", "http://"+upAddr+"/internal/7f3a9c/login?next=1")
		case "escaped":
			h.Set("Location", "/internal/7f3a9c/%6Frders-svc/42")
		case "escaped-elsewhere":
			h.Set("Location", "/internal/%37f3a9c/login")
		case "relative":
			h.Set("Location", "../orders-svc/43")
		case "scheme-relative":
			h.Set("Location", "//"+upAddr+internal+"/44")
		case "sibling":
			h.Set("Location", "/internal/7f3a9c/login-svc/start")
		case "external":
			h.Set("Location", "https://idp.example/authorize?x=1")
		case "headers":
			status = http.StatusOK
			h.Set("Content-Location", "/internal/7f3a9c/other")
			h.Add("Link", "<"+internal+"/42>; rel=\"next\", <http://"+upAddr+"/internal/7f3a9c/x>; rel=prev")
			h.Add("Link", "<https://cdn.example/app.js>; rel=preload; as=script")
			h.Set("Refresh", "5; url=http://"+upAddr+"/internal/7f3a9c/login")
			h.Add("Set-Cookie", "sid=1; Path="+internal+"; HttpOnly")
			h.Add("Set-Cookie", "t=2; Path=/internal/7f3a9c; Domain="+strings.Split(upAddr, ":")[0])
			h.Set("X-Debug-Upstream", upAddr)
			h.Set("X-Backend-Path", "/INTERNAL/7F3A9C/ORDERS-SVC/debug")
		case "refresh":
			status = http.StatusOK
			h.Set("Refresh", "0; url="+internal+"/7")
		}
		h.Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `<html><a href="http://`+upAddr+internal+`/42">moved to /internal/7f3a9c/login</a></html>`)
	})
	upAddr = up.Addr
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: orders, targets: [{url: "`+up.URL+`"}]}]
routes:
  - name: orders
    paths: [{prefix: /v1/orders}]
    service: orders
    rewrite: `+internal+`
  - name: login
    paths: [{prefix: /v1/login}]
    service: orders
    rewrite: /internal/7f3a9c/login-svc
ops: {address: "{{ops}}"}
`))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name     string
		status   int
		location string // "": no Location
	}{
		{name: "elsewhere-in-tree", status: 502},
		{name: "absolute-elsewhere", status: 502},
		{name: "escaped", status: 302, location: "/v1/orders/42"},
		{name: "escaped-elsewhere", status: 502},
		{name: "relative", status: 302, location: "/v1/orders/43"},
		{name: "scheme-relative", status: 302, location: "http://" + gw.Addr + "/v1/orders/44"},
		{name: "sibling", status: 302, location: "/v1/login/start"},
		{name: "external", status: 302, location: "https://idp.example/authorize?x=1"},
		{name: "headers", status: 200},
		{name: "refresh", status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Get(gw.URL("/v1/orders/new?case=" + tc.name))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (Location %q)", resp.StatusCode, tc.status, resp.Header.Get("Location"))
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			for k, vs := range resp.Header {
				for _, v := range vs {
					if strings.Contains(strings.ToLower(v), "7f3a9c") || strings.Contains(v, upAddr) {
						t.Errorf("response header %s leaks %q", k, v)
					}
				}
			}
			// A 200's body is the application's content; redirects and
			// refusals carry no body of the upstream's.
			if tc.status != 200 && (strings.Contains(string(body), "7f3a9c") || strings.Contains(string(body), upAddr)) {
				t.Errorf("body leaks: %q", body)
			}
			if tc.status == 302 && len(body) != 0 {
				t.Errorf("a redirect's body was not replaced: %q", body)
			}
			switch tc.name {
			case "headers":
				if got := resp.Header.Values("Link"); len(got) != 2 || got[0] != `</v1/orders/42>; rel="next"` || got[1] != "<https://cdn.example/app.js>; rel=preload; as=script" {
					t.Errorf("Link %q", got)
				}
				if got := resp.Header.Get("Content-Location"); got != "" {
					t.Errorf("Content-Location %q, want none", got)
				}
				if got := resp.Header.Get("Refresh"); got != "" {
					t.Errorf("Refresh %q, want none", got)
				}
				if got := resp.Header.Values("Set-Cookie"); len(got) != 2 || got[0] != "sid=1; Path=/v1/orders; HttpOnly" || got[1] != "t=2" {
					t.Errorf("Set-Cookie %q", got)
				}
			case "refresh":
				if got := resp.Header.Get("Refresh"); got != "0; url=/v1/orders/7" {
					t.Errorf("Refresh %q", got)
				}
			}
		})
	}
	if !gw.WaitAccessLog(`"reason":"response: redirect to an internal URI with no public form"`, 5e9) {
		t.Fatalf("no access line for the unmappable redirect:\n%s", gw.Stdout.String())
	}
}
