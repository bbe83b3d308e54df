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
// Cost. A clean GET costs 0.3-0.6 ms of CPU, nearly all of it in the CRS
// rules a request runs through: Coraza's copying of variables, macro
// expansion and bookkeeping per rule, and the regular expressions; the
// transaction itself is pooled by Coraza and cheap (docs/performance.md,
// "The WAF route"). Five choices follow from that measurement.
//
// The CRS's paranoia levels are worked out at build (paranoia.go). The
// CRS opens each paranoia section of a rule file with a jump
// (TX:DETECTION_PARANOIA_LEVEL "@lt N" ... skipAfter) that every
// transaction evaluates: 112 rule evaluations per request at paranoia 1
// that decide nothing about it. The level is fixed when the rule set is
// built, so the jumps and the rules they jump over are left out of it
// (SecRuleRemoveById): the same rules run, in the same order; the CRS's
// corpus gives the same verdicts at every level; the load harness's WAF
// request costs about a quarter less. The CRS's setup and initialization
// are worked out at build too (fold.go): 29 rules (CRS 4.25) that set the same
// TX variables to the same constants on every request, each at the cost
// of a matched rule, become one SecAction; the transaction's TX after it
// is the same, on the whole corpus. With those constants known, every
// test of one of them (the scoring above the level, the sampling jump)
// is decided at build like the jumps: the harness's request about a
// fifth less again. The same build gives every rule a
// constant logdata: Coraza expands logdata on every evaluation, and the
// gateway logs matched rules' ids and messages, never their data.
//
// Rules a request cannot match are not evaluated (prune.go). Before the
// first phase the policy works out, for every variable the prunable rules
// read and every transformation chain they apply, which bytes the
// transformed values can hold, and, where the transformations are sure
// to leave a value as it is (or only lowercase it), the values
// themselves; a rule whose operator needs a byte none of them holds, or
// whose screen turns every exact value away, is removed from the
// transaction as ctl:ruleRemoveById would: about 90 rules a request on the
// CRS's corpus; a clean GET's CPU falls by a fifth. The restricted-header
// chains (920450, 920451), which run per header name, are pruned when no
// name is on their list (headers.go); a chain whose later rule cannot
// match (a GET's 920170: no Content-Length) goes with its first rule when
// that rule does nothing on its own (chain.go, reading the chain from the
// CRS's text, crstext.go); the SecMarkers, which Coraza evaluates in
// every phase, go when no skipAfter can reach one (markers.go); 941010's
// target exclusion by tag is worked out by pruning from a list made at
// build (exclusion.go); and the removed rules go to Coraza as ranges of
// the rule set's ids (removal.go). The fold's rule sets only the
// variables a rule left in the rule set reads (unread.go). Rules that
// read the body are pruned only when no body is handed to Coraza. The corpus's
// requests give the same verdicts with and without pruning, every
// modelled transformation is checked against Coraza's own, and a fuzz
// target compares the two on requests the corpus does not have.
//
// The @rx operator is the gateway's own (package rx), registered over
// Coraza's for the whole process (engine.go). It matches exactly as
// Coraza's does and puts two screens in front of the regexp, derived from
// the parsed pattern: a set of ASCII bytes and a set of literal words, one
// of each of which every match must contain; a value failing either is
// answered without running the regexp. A clean GET's regexp runs fall
// from 617 to 44 and its CPU by about a fifth (docs/performance.md). Every
// rule stays on: rx's tests check each of the CRS's 242 @rx patterns on
// 18,550 values from the CRS's regression corpus, and send the corpus's
// 4,666 requests through the CRS built with Coraza's own operator and with
// the gateway's (paranoia 4 detection-only and paranoia 1 blocking),
// requiring the same matched rules and messages.
//
// Coraza's own experimental regex prefilter (SecRxPreFilter) stays off:
// over the same corpus it skips 942220's regex on the strtod
// denial-of-service number, a missed attack, which TestAttacksBlocked now
// sends. RE2 (github.com/wasilibs/go-re2) in place of Go's regexp was
// measured and not adopted: 8-15% on a clean GET without the screens, 0-9%
// on top of the byte screen, 5.7 MB of binary, and it does not match . against a byte
// that is not UTF-8 where Go's regexp does (a value could hide an attack
// behind one).
//
// And Coraza's warning that a macro names a missing variable is dropped
// from the process log: Coraza expands every rule's msg and logdata on
// every evaluation, so three CRS rules produce it on every request, an
// unbounded stream of lines that say nothing about the request. Coraza's
// other warnings reach the log at most once per message every ten seconds,
// the next line carrying how many were held back: some of them (a body
// that reached the inspection limit) a client can cause on every request,
// and a gateway's log must not be a client's to fill.
package waf
