// Package response holds the policies that act on what leaves the gateway
// toward the client: security_headers (strip headers that reveal
// internals, add the ones browsers need), filter_fields (allow lists of
// JSON fields anchored at the root, deny lists that match at every depth,
// on every JSON media type, with a size cap beyond which a response is
// refused, not leaked), hide_errors (generic problem bodies instead of
// upstream error pages), cors (preflights answered at the edge, in the
// access phase; CORS headers only for allowed origins) and deprecation
// (Deprecation, Sunset and Link headers). Each kind lives in its own file
// and registers itself. Plain header edits (response_headers) are in
// internal/transform.
package response
