// Package guard keeps one client or one slow service from taking the
// gateway down, and bans clients that behave like attackers:
//
//   - Listener bounds the open connections of a listener, in total and per
//     peer address.
//   - the "concurrency" policy kind bounds the requests in flight per route
//     or per consumer, with a short FIFO queue and a deadline.
//   - Detector counts security events (authentication failures, refusals,
//     WAF hits, 429s, 404 scans, malformed requests) per client address in
//     sliding windows, bans a client that crosses a threshold (locally or
//     shared through Redis), and sends alerts to webhooks.
package guard
