package e2e

import (
	"fmt"
	"testing"
)

// An API-key consumer with configured scopes passes a scopes policy that
// requires them; one without (or with too few) is refused 403 and the
// upstream sees nothing. The anonymous consumer's scopes count too.
func TestConsumerScopesEndToEnd(t *testing.T) {
	readerKey, readerHash := akGenerate(t)
	plainKey, plainHash := akGenerate(t)
	partialKey, partialHash := akGenerate(t)
	up := NewUpstream(t, nil)
	g := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
ops: {address: "{{ops}}"}
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: reader
    scopes: [orders, read]
    credentials:
      api_keys: [{id: reader-key, hash: "%s"}]
  - name: plain
    credentials:
      api_keys: [{id: plain-key, hash: "%s"}]
  - name: partial
    scopes: [orders]
    credentials:
      api_keys: [{id: partial-key, hash: "%s"}]
  - name: guest
    scopes: [public]
routes:
  - name: orders
    paths: [{prefix: /orders/}]
    service: svc
    policies:
      - {kind: auth, methods: [{api_key: {}}]}
      - {kind: scopes, require: [orders], per_method: {GET: [read]}}
  - name: public
    paths: [{prefix: /public/}]
    service: svc
    policies:
      - {kind: auth, methods: [{api_key: {}}], anonymous: guest}
      - {kind: scopes, require: [public]}
`, up.URL, readerHash, plainHash, partialHash)))

	resp, body := azDo(t, g, "GET", "/orders/1", "X-Api-Key", readerKey)
	azAllowed(t, "consumer with the scopes", up, resp, body, "/orders/1", "reader")

	resp, body = azDo(t, g, "GET", "/orders/1", "X-Api-Key", plainKey)
	azRefused(t, "consumer without scopes", up, 403, azForbidden, resp, body)

	resp, body = azDo(t, g, "GET", "/orders/1", "X-Api-Key", partialKey)
	azRefused(t, "consumer missing the method's scope", up, 403, azForbidden, resp, body)

	resp, body = azDo(t, g, "POST", "/orders/1", "X-Api-Key", readerKey)
	azRefused(t, "method without a scope rule", up, 403, azForbidden, resp, body)

	resp, body = azDo(t, g, "GET", "/public/x", "", "")
	azAllowed(t, "anonymous consumer's scopes", up, resp, body, "/public/x", "guest")

	// A client cannot claim scopes through a header of its own.
	resp, body = azDo(t, g, "GET", "/orders/1", "X-Scopes", "orders read")
	azRefused(t, "no credential", up, 401, "Invalid or missing credentials.", resp, body)
}
