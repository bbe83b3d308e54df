// Package tlspolicy is the one TLS policy of every connection Portcullis
// accepts or makes: the HTTPS listeners, the admin API's listener, the
// upstream client, the Redis and PostgreSQL clients, the identity
// providers' clients (JWKS, token introspection), the webhooks that carry
// alerts and audit events, the OTLP trace exporter, the OCSP client, and
// the admin command line. A gateway is trusted as the hardened door only if
// none of its doors is weaker than the front one: an admin listener or a
// JWKS fetch that takes a suite the data plane refuses is where a
// downgrade would be aimed.
//
// # What it refuses
//
//   - TLS 1.0 and 1.1 (RFC 8996 deprecates them): every connection starts
//     at TLS 1.2, and a caller may raise that to 1.3 (Version).
//   - TLS 1.2 suites without forward secrecy (static RSA key exchange):
//     whoever obtains the server's key later decrypts every recorded
//     session.
//   - TLS 1.2 suites in CBC mode (MAC-then-encrypt): the family behind the
//     Lucky Thirteen and POODLE padding oracles, repaired by timing care
//     in each implementation rather than by design.
//   - RC4 and 3DES suites (RFC 7465, Sweet32).
//
// What is left for TLS 1.2 is ECDHE key exchange with an AEAD (AES-GCM or
// ChaCha20-Poly1305): CipherSuites. TLS 1.3's suites are all of that kind,
// and Go offers no setting for them.
//
// Go's own defaults for TLS 1.2 still include the ECDHE CBC suites; a
// tls.Config built anywhere else in the gateway would take them. Build
// every one with Config.
//
// # Where no TLS is allowed at all
//
// A few connections may go without TLS, and only when they never leave the
// machine: a JWKS or introspection endpoint over plain http, a PostgreSQL
// store without verified TLS, an admin listener without TLS. Loopback is
// that one decision; a name that happens to resolve to 127.0.0.1 does not
// count (the resolver is not the gateway's to trust), "localhost" does.
//
// # Whom it trusts
//
// Every CA file the gateway trusts (a listener's client_auth.ca_file, the
// admin API's client_ca_file, a service's or a Redis's tls.ca_file, an
// identity provider's ca_file) is read by ReadCAFile, and the loader checks
// it with the same ParseCA. crypto/x509's AppendCertsFromPEM skips a
// certificate that does not parse: a bundle mangled in a copy would trust
// less than the operator believes, or nothing, and say so only at the first
// refused handshake. ParseCA refuses the bundle instead.
package tlspolicy
