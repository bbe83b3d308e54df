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
// Cost. A clean GET costs 0.5-1 ms of CPU, nearly all of it in the 282
// CRS rules a request runs through: Coraza's copying of variables, macro
// expansion and bookkeeping per rule, and the regular expressions; the
// transaction itself is pooled by Coraza and cheap (docs/performance.md,
// "The WAF route"). Three settings follow from that measurement.
//
// The @rx operator is the gateway's own (rx.go), registered over Coraza's
// for the whole process. It matches exactly as Coraza's does (Go's regexp
// over "(?sm)" and the pattern; rsc.io/binaryregexp, without the flags,
// for the patterns whose \x escapes name bytes that are not UTF-8) and
// adds a screen in front: from the parsed pattern, a set of ASCII bytes
// every match must contain, so that a value holding none of them is
// answered without running the regexp. The screen is derived, not
// guessed: it reads characters the way Go's regexp does (an ASCII byte is
// always that character; a letter under (?i) counts only if its whole
// case-folding orbit is ASCII, so k and s, which fold to the Kelvin sign
// and the long s, never enter a screen), and the rules are those of
// concatenation, alternation and repetition (rx.go). It takes a clean
// GET's regexp runs from 617 to 96 and its CPU down by 17-20% (about 10%
// on the gateway's whole WAF route). Every rule stays on:
// TestRXScreenAgreesOnCRSPatterns checks each of the CRS's 242 @rx
// patterns on 18,605 values from the CRS's regression corpus (every
// value a screen turns away is one the regexp does not match), and
// TestRXScreenKeepsCRSVerdicts sends that corpus's 4,666 requests through
// the rule set with and without the screen at paranoia 4 and requires the
// same matched rules and messages.
//
// Coraza's own experimental regex prefilter (SecRxPreFilter) stays off:
// over the same corpus it skips 942220's regex on the strtod
// denial-of-service number, a missed attack, which TestAttacksBlocked now
// sends. RE2 (github.com/wasilibs/go-re2) in place of Go's regexp was
// measured and not adopted: 8-15% on a clean GET without the screen, 0-9%
// on top of it, 5.7 MB of binary, and it does not match . against a byte
// that is not UTF-8 where Go's regexp does (a value could hide an attack
// behind one).
//
// And Coraza's warning that a macro names a missing variable is dropped
// from the process log: Coraza expands every rule's msg and logdata on
// every evaluation, so three CRS rules produce it on every request, an
// unbounded stream of lines that say nothing about the request.
package waf
