// Package protect holds the edge-filtering policies that judge a request
// before it reaches an upstream without needing to know who the caller is:
//
//   - ip_filter (access phase): allow and deny lists of IPv4/IPv6 addresses
//     and CIDRs, evaluated on the client address the gateway computed from
//     its trusted proxies; also used for the global top-level ip_filter.
//   - require_headers (validate phase): headers that must be present and
//     match a pattern.
//   - validate (validate phase): limits on the URL, query and headers, body
//     size, content type, JSON well-formedness and JSON Schema.
//   - signature (validate phase): HTTP Message Signatures (RFC 9421) with
//     Content-Digest (RFC 9530); each signature is accepted once (replay
//     protection on by default, in memory or shared through Redis:
//     signature_replay.go).
//
// Each kind lives in its own file and registers itself in init. Everything
// that can be decided at load time (CIDR lists, regular expressions, JSON
// Schemas) is compiled once; the request path only looks values up.
// Refusals are RFC 9457 problems with a generic detail that never echoes
// the input; the precise reason goes to the log only.
package protect
