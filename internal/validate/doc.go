// Package validate holds the validate-phase policies that judge a request
// before it reaches an upstream (the openapi and waf kinds, also in that
// phase, have packages of their own):
//
//   - require_headers: headers that must be present and match a pattern.
//   - validate: limits on the URL, query and headers, body size, content
//     type, JSON well-formedness and JSON Schema.
//   - signature: HTTP Message Signatures (RFC 9421) with Content-Digest
//     (RFC 9530); each signature is accepted once (replay protection on by
//     default, in memory or shared through Redis: signature_replay.go).
//
// Each kind lives in its own file and registers itself in init. Everything
// that can be decided at load time (regular expressions, JSON Schemas,
// keys) is compiled once; the request path only looks values up.
// Refusals are RFC 9457 problems with a generic detail that never echoes
// the input; the precise reason goes to the log only.
package validate
