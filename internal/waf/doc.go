// Package waf is the gateway's web application firewall: the policy kind
// "waf", which runs the OWASP Core Rule Set (CRS 4, embedded from
// github.com/corazawaf/coraza-coreruleset) through the Coraza engine in
// the validate phase.
//
// Building the CRS costs a noticeable fraction of a second, so one
// coraza.WAF is compiled per distinct configuration and kept in the
// gateway's long-lived state: every route and every reload with the same
// settings shares it. Each request gets its own Coraza transaction, which
// sees the client address, the method, the canonical path with the raw
// query, the headers and (when inspect_body is on) the body up to
// body_limit, and is always closed before Handle returns.
//
// Cost. A clean GET costs about 1 ms of CPU, nearly all of it in the 282
// CRS rules a request runs through (regular expressions 40%, Coraza's
// copying of variables, macro expansion and bookkeeping per rule the
// rest); the transaction itself is pooled by Coraza and cheap
// (docs/performance.md, "The WAF route"). Two settings follow from that
// measurement. Coraza's experimental regex prefilter (SecRxPreFilter)
// stays off: over the CRS's own regression corpus it skips 942220's regex
// on the strtod denial-of-service number, a missed attack, which
// TestAttacksBlocked now sends. And Coraza's warning that a macro names a
// missing variable is dropped from the process log: Coraza expands every
// rule's msg and logdata on every evaluation, so three CRS rules produce it
// on every request, an unbounded stream of lines that say nothing about
// the request.
package waf
