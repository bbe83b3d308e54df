// Package intrusion is intrusion detection (the config's
// intrusion_detection block): the Detector counts security events
// (authentication failures, refusals, WAF hits, 429s, 404 scans, malformed
// and timed-out requests) per client address in sliding windows, bans a
// client that crosses a threshold (locally or shared through Redis), holds
// the bans an administrator sets and lifts, and sends signed alerts to
// webhooks (webhooktest checks a signature as a receiver would).
package intrusion
