package webhooktest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// kat is a delivery signed outside Go, with
//
//	printf '%s' '1700000000.{"type":"ban","event":"auth_failure"}' | openssl dgst -sha256 -hmac hook-secret
var kat = struct {
	secret, ts, body, sig string
}{
	secret: "hook-secret",
	ts:     "1700000000",
	body:   `{"type":"ban","event":"auth_failure"}`,
	sig:    "sha256=38a2e8b7592104dcf8ddcb2cd2483ed1c7bceb624999c90039e587f36f1ea62e",
}

var katTime = time.Unix(1_700_000_000, 0)

func katHeader(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set("X-Portcullis-Timestamp", ts)
	}
	if sig != "" {
		h.Set("X-Portcullis-Signature", sig)
	}
	return h
}

func TestVerifyKnownAnswer(t *testing.T) {
	if err := Verify([]byte(kat.secret), katHeader(kat.ts, kat.sig), []byte(kat.body), katTime.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRefuses: one row per rule a receiver applies.
func TestVerifyRefuses(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		secret string
		h      http.Header
		body   string
		now    time.Time
	}{
		{desc: "another secret", secret: "hook-secret-2", h: katHeader(kat.ts, kat.sig), body: kat.body, now: katTime},
		{desc: "no secret configured on the receiver", secret: "", h: katHeader(kat.ts, kat.sig), body: kat.body, now: katTime},
		{desc: "a changed body", secret: kat.secret, h: katHeader(kat.ts, kat.sig), body: strings.Replace(kat.body, "ban", "bam", 1), now: katTime},
		{desc: "a changed timestamp (the timestamp is signed)", secret: kat.secret, h: katHeader("1700000001", kat.sig), body: kat.body, now: katTime},
		{desc: "a timestamp older than MaxAge", secret: kat.secret, h: katHeader(kat.ts, kat.sig), body: kat.body, now: katTime.Add(MaxAge + time.Second)},
		{desc: "a timestamp further than MaxAge in the future", secret: kat.secret, h: katHeader(kat.ts, kat.sig), body: kat.body, now: katTime.Add(-MaxAge - time.Second)},
		{desc: "a timestamp in milliseconds", secret: kat.secret, h: katHeader("1700000000000", kat.sig), body: kat.body, now: katTime},
		{desc: "a timestamp that is not a plain decimal", secret: kat.secret, h: katHeader("+1700000000", kat.sig), body: kat.body, now: katTime},
		{desc: "no timestamp", secret: kat.secret, h: katHeader("", kat.sig), body: kat.body, now: katTime},
		{desc: "no signature", secret: kat.secret, h: katHeader(kat.ts, ""), body: kat.body, now: katTime},
		{desc: "a signature without the sha256= label", secret: kat.secret, h: katHeader(kat.ts, strings.TrimPrefix(kat.sig, "sha256=")), body: kat.body, now: katTime},
		{desc: "a signature in upper-case hex", secret: kat.secret, h: katHeader(kat.ts, "sha256="+strings.ToUpper(strings.TrimPrefix(kat.sig, "sha256="))), body: kat.body, now: katTime},
		{desc: "two signatures", secret: kat.secret, h: func() http.Header {
			h := katHeader(kat.ts, kat.sig)
			h.Add("X-Portcullis-Signature", kat.sig)
			return h
		}(), body: kat.body, now: katTime},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if err := Verify([]byte(tc.secret), tc.h, []byte(tc.body), tc.now); err == nil {
				t.Fatal("verified")
			}
		})
	}
}
