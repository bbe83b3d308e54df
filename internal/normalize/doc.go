// Package normalize turns the request target into one canonical path. It
// exists because a gateway is bypassed most often not by breaking a
// policy but by making the gateway and the upstream disagree about what the
// request is.
//
// # Canonical paths
//
// Canonicalize takes the request target exactly as received (nothing
// decoded) and returns the single escaped form the gateway routes on and
// sends upstream. Anything two parsers could read two ways is refused
// rather than guessed:
//
//   - Percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are
//     decoded and every other escape is upper-cased, so "/%61dmin" and
//     "/admin" route the same and "%2f"/"%2F" compare equal.
//   - Invalid escapes ("%zz", "%4") are refused: upstreams differ on whether
//     they pass them through, drop them or decode them.
//   - NUL and control characters, raw or encoded, are refused: they cut
//     strings short in C upstreams and forge lines in logs and headers.
//   - Invalid UTF-8 (overlong "%C0%AF" for "/", lone "%FF") is refused: an
//     overlong encoding is how "/" and "." slip past a byte comparison into
//     a decoder that accepts them.
//   - Backslash, raw or "%5C", is refused: Windows servers and some
//     frameworks treat it as a separator, so "/public\..\admin" would escape
//     the route the gateway matched.
//   - Dot segments spelled with escapes ("%2e%2e") are refused: the gateway
//     would see a name, a layer that decodes first would see "..".
//   - "%2F" inside a segment stays encoded and is reported in
//     HasEncodedSlash; the caller refuses it unless the route allows it,
//     because an upstream that decodes it sees a different path. A dot
//     segment next to "%2F" ("..%2Fadmin") is refused outright, and so is
//     a ".." that would drop a segment holding "%2F" ("/a/b%2Fc/.."): to a
//     server that decodes before splitting, that segment is two, and its
//     ".." drops only the second (the output would also no longer show
//     the encoded slash the route must allow).
//   - ";" is refused with its own reason: Tomcat, Jetty and Spring strip
//     ";params" from segments, so "/admin;x" and "/..;/admin" mean
//     something to them that they do not mean to the router. Options can
//     allow it; a dot segment carrying parameters is still refused, and so
//     is a ".." after a segment of parameters only ("/a/;x/.."): to those
//     servers that segment is empty and collapsed, so their ".." drops "a".
//   - A raw "#" is refused: a fragment is never sent by a client, so one in
//     the request line is a probe.
//   - "." and ".." are resolved (RFC 3986 section 5.2.4) and "//" is
//     collapsed, so the router and the upstream see the same segments; a
//     ".." above the root is refused, not clamped, since clamping hides the
//     probe and the upstream may not clamp the same way.
//   - Characters that may not appear raw in a URI path (", <, >, [, ], ^,
//     `, {, |, } and valid UTF-8) are percent-encoded, so the result is
//     always a valid escaped path that net/url keeps as RawPath verbatim.
//
// The result is idempotent, and an input that is already canonical costs no
// allocation. After a rewrite the gateway checks the new path with
// IsCanonical, so no later step can reintroduce an ambiguous form.
//
// # Windows upstreams
//
// Some ambiguity depends on the upstream, not on the URI: Windows opens
// "/admin." and "/admin " as "/admin", "x::$DATA" as x's data stream and
// "ADMINI~1" as a long name. Refusing those forms for every upstream
// would refuse valid URIs ("/~alice", "/v1/x:run"), so the check is a
// separate function, WindowsAmbiguity, which the gateway applies to the
// requests for a service declared windows_paths, once the route is known.
//
// # Framing (request smuggling)
//
// Message framing is not checked here any more: the gateway's own HTTP/1.x
// engine (internal/http1) parses every request once, strictly, and its
// parser is the framing check (Content-Length beside Transfer-Encoding,
// duplicate lengths, obfuscated codings, obs-fold, bare CR or LF...). See
// that package's documentation for the rules and the threat behind them.
package normalize
