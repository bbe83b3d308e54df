// Package router is the gateway's compiled route matcher: New turns a list
// of routes into an immutable Router once per config snapshot, and
// Router.Match picks the route for a request (host, path, method, headers)
// without scanning the route list.
//
// The package does not know the config schema; the gateway translates
// config routes into Route values and keeps the mapping from Route.ID back
// to its own route.
//
// # What a route matches
//
//   - Hosts: an exact name ("api.example.com"), a leading wildcard
//     ("*.example.com", which matches one or more labels before the suffix
//     but not the apex "example.com"), or any host ("" entry, "*" entry, or
//     an empty list). Hosts compare case-insensitively and a single
//     trailing dot is ignored, on both sides.
//   - Paths: exact, prefix or regex, compared case-sensitively (the gateway
//     hands over an already canonical path), unless the route folds case
//     (Route.FoldCase): then ASCII letters compare case-insensitively on
//     both sides ("/Admin" matches "/admin/x", a regex is compiled with
//     (?i)). The gateway sets it for the routes to a service whose
//     upstream folds case: otherwise "/ADMIN/x" would miss the route
//     "/admin", with its policies, fall to a catch-all, and be served by
//     an upstream that reads it as "/admin/x". Likewise a route that
//     ignores a trailing slash (Route.IgnoreTrailingSlash) matches its exact
//     path "/admin" as "/admin/" too (and "/admin/" as "/admin"), and its
//     prefix "/api/" as "/api" too; its regexes are matched as written.
//     Prefixes are segment-aware:
//     "/api" matches "/api" and "/api/x" but not "/apix"; a prefix with a
//     trailing slash, "/api/", matches "/api/" and "/api/x" but not "/api";
//     the prefix "/" matches every path. A regex must match the whole path
//     (it is anchored here). A route without paths matches every path, as
//     if it had the prefix "/".
//   - Methods: compared exactly after the configured ones are upper-cased
//     (HTTP methods are case-sensitive); no list allows every method.
//     Whether GET implies HEAD is the gateway's decision, not the router's:
//     it adds HEAD to the methods of a route that lists GET
//     (gateway.routeMethods).
//   - Headers: all must hold. Name only: the header is present (possibly
//     empty). Value: one of the header's values equals it exactly. Regex:
//     one of the header's values matches it in full. Names are looked up in
//     canonical form, as net/http stores them.
//
// # Which route wins
//
// Among the routes whose host, path, method and headers all match, the most
// specific wins, comparing in this order (each step only breaks ties of the
// one before):
//
//  1. host: an exact host beats a wildcard host, a longer wildcard suffix
//     beats a shorter one, and any wildcard beats a route without hosts;
//  2. path: an exact path beats a prefix, a longer prefix beats a shorter
//     one, and any prefix beats a regex;
//  3. higher Priority;
//  4. lower ID, then earlier position in the list given to New (config
//     order).
//
// A route with several hosts and paths competes with the most specific of
// its combinations that matches the request.
//
// When no route matches in full but some route matches host, path and
// headers and only the method differs, Match returns MethodNotAllowed and
// appends the sorted union of the methods those routes allow, for the
// Allow header of the 405. Otherwise it returns NotFound.
//
// # Routes that can never win
//
// A route tried after another for the same host and path, where the other
// allows every method it allows and requires no header it does not, never
// wins: Shadowed lists such paths, and the gateway refuses the config. A
// route that folds case shadows, in the same way, a later one whose path is
// its own in other letter case ("/admin" folding before "/Admin"), or, for
// a route that ignores a trailing slash, with one toggled. The
// threat is a silent one: the policies of the shadowed route (an auth
// policy on writes, say) are believed to apply and never run.
//
// # How it is fast
//
// Routes are split per host into tables: a map from exact host, a map from
// wildcard suffix (looked up for each label boundary of the request host,
// longest suffix first) and one table for routes without hosts. Each table
// has a map of exact paths, a map of prefixes that is probed with the
// request path cut at each segment boundary from the longest cut down (only
// at lengths some prefix has), and a short ordered list of regexes tried
// last. The first entry that matches in full in that order is the winner,
// because the order is the specificity order. Matching a lower-case host and
// a plain path against an exact or prefix route allocates nothing. Folding
// entries are keyed by their value in lower case; only when a table has one
// and the request path has an upper-case letter is the path folded (once,
// into a stack buffer) and each lookup made a second time with it.
package router
