// Package clienttls is the client side of the TLS connections the gateway
// opens to servers it must be sure of: a service's https:// targets
// (internal/upstream), Redis (internal/redisconn), the security events'
// syslog receiver (internal/events) and webhooks with a tls block
// (internal/intrusion.WebhookClient). All are configured with the same
// block (config.ClientTLS: ca_file, server_name, expected_identity,
// cert_file, key_file, min_version), so all are verified by the same code.
//
// Threats and the rule that answers each:
//   - A server reachable by anyone who can open a socket trusts what it
//     is sent: a service trusts the identity headers, Redis the counters
//     and bans it is told to write. The gateway presents a client
//     certificate (cert_file, key_file), so the server can accept the
//     gateway and refuse everything else at its TLS handshake.
//   - An attacker who can answer in the server's place (DNS, ARP, a
//     compromised neighbour holding any certificate from the same CA)
//     would receive the request and the identity it carries, or the Redis
//     password and every rate-limit decision. The server's certificate must
//     chain to ca_file and carry the expected identity: the host the
//     gateway dials, server_name, a DNS expected_identity, or a SPIFFE ID
//     matched against the single URI SAN of an X.509-SVID (checked by
//     go-spiffe: one URI SAN, not a CA, signature key usage, chain to the
//     trust domain's bundle).
//   - Protocol downgrade: TLS 1.3 unless min_version says "1.2"; the 1.2
//     suites are the forward-secret AEAD ones (internal/tlspolicy).
//   - Certificates are short-lived and rotated on disk. The files are
//     polled (Refresh); a change is loaded for the next connection while
//     open connections carry on (nothing is dropped), and a file that fails
//     to load keeps the previous material and is reported. A session ticket
//     is never resumed across a rotation: it would carry the previous
//     client certificate's authentication.
package clienttls
