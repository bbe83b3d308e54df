// Package assertion signs the identity assertions the gateway adds to
// requests toward services, and publishes the public keys.
//
// The threat: a service that an attacker can reach without the gateway
// (a flat network, a compromised neighbour, a misrouted load balancer)
// cannot tell a forged X-Consumer-Name from a real one. With
// services[].identity_assertion, every request to the service carries a
// JWT signed by the gateway (EdDSA or ES256; no shared secret ever leaves
// the gateway) whose audience is the service's name, so that an assertion
// captured at one service is refused by another, and whose lifetime is
// seconds, so that a captured one is soon useless. Services check it with
// the public package github.com/portcullis/portcullis/verify.
//
// Rules, each where it is enforced:
//   - The assertion header (and the gateway signature header) are owned by
//     the gateway: a client's copy is deleted before any policy runs, on
//     every route (gateway snapshot), and the gateway's own is set after
//     hop-by-hop removal, so a client's Connection header cannot remove it.
//   - Signing costs tens of microseconds, so a signed assertion is reused
//     for the same route, audience and identity (consumer, method, groups,
//     scopes) until three quarters of its lifetime are gone (cache.go);
//     the service therefore always receives at least a quarter of ttl.
//     The cache is a ttlmap per service, bounded whatever identities
//     clients present (a full shard evicts one entry, expired first).
//     bind_request signs per request instead, with the request id, method
//     and path in the claims, for services that must not accept reuse.
//   - Keys: the first configured key signs; every configured key is
//     published. A key that leaves the configuration stays published for
//     the longest ttl plus a minute (keyring.go), so assertions signed just
//     before a reload still verify after it.
//   - The optional gateway signature (HMAC-SHA256 over method, path, time
//     and request id, verify.GatewaySignature) is computed per request: it
//     is cheap, and a timestamp must be fresh.
package assertion
