// Package verify lets a Go service trust the Portcullis gateway's word
// about who is calling, and refuse every request that did not come
// through the gateway.
//
// Headers such as X-Consumer-Name prove nothing to a service that an
// attacker can reach directly: anyone who can open a socket to it can
// send them. The gateway therefore adds to every request it forwards a
// short-lived JWT, the identity assertion, signed with a key only the
// gateway holds (EdDSA or ES256), whose audience is the service's name.
// Its public keys are published as a JWKS on the gateway's operations
// listener. This package verifies that assertion:
//
//   - missing assertion: the request did not come through the gateway
//     (or came through a route of another service) and is refused;
//   - signature: checked against the gateway's JWKS, fetched and cached;
//     an unknown key id triggers one refresh (at most one per
//     MinRefreshInterval, waited for rather than refused, so a key the
//     gateway has just started using is never a gap), so a token signed by
//     any other key is refused;
//   - algorithm: only EdDSA and ES256, and only the algorithm of the key
//     the JWKS publishes under that key id ("none" and HMAC confusion are
//     impossible);
//   - token type: typ must be the assertion's own type, so no other JWT
//     signed by a key the service trusts can pass for an assertion
//     (RFC 8725 section 3.11);
//   - issuer and audience: iss must be the gateway's issuer and aud this
//     service's name, so an assertion captured at one service cannot be
//     replayed at another;
//   - lifetime: exp is required and enforced (with an optional Leeway for
//     clock skew), so a captured assertion is useless once it expires.
//     Within its lifetime an assertion can be reused by whoever holds it:
//     keep it off logs, and reach services only over mTLS (docs/zero-trust.md);
//     with bind_request the gateway puts the request id, method and path in
//     the assertion and this package checks the method and path against
//     the request;
//   - the optional HMAC gateway signature (GatewaySignatureSecret) is
//     checked as well when configured, in constant time, within MaxSkew.
//
// A refused request gets 401 with an application/problem+json body that
// names no reason; the reason goes to Config.Logger. The handler of an
// accepted request finds the caller with FromContext.
package verify
