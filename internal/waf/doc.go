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
package waf
