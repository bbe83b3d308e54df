// Package webhooktest checks a security-alert delivery the way
// docs/traffic.md tells a receiver to, for the tests of the alerter. It is
// written from the documentation alone and shares no code with
// intrusion.Sign: a test that compared the gateway's signature with the
// gateway's own signing function would pass whatever that function did.
//
// What the documentation promises a receiver:
//
//   - X-Portcullis-Timestamp is the delivery time in unix seconds;
//   - X-Portcullis-Signature is "sha256=" and the lower-case hex of
//     HMAC-SHA256(secret, timestamp + "." + body);
//   - the receiver recomputes it, compares in constant time and rejects
//     old timestamps.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names, as the documentation spells them.
const (
	signatureHeader = "X-Portcullis-Signature"
	timestampHeader = "X-Portcullis-Timestamp"
)

// MaxAge is how old (or how far in the future) a delivery's timestamp may
// be. Deliveries on loopback arrive within milliseconds; a minute leaves
// room for a loaded machine and retries.
const MaxAge = time.Minute

// Verify checks one delivery received at now with the webhook's secret.
func Verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return errors.New("webhooktest: no secret to verify with")
	}
	tsValues, sigValues := h.Values(timestampHeader), h.Values(signatureHeader)
	if len(tsValues) != 1 || len(sigValues) != 1 {
		return fmt.Errorf("want one %s and one %s, got %d and %d", timestampHeader, signatureHeader, len(tsValues), len(sigValues))
	}
	ts := tsValues[0]
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts != strconv.FormatInt(secs, 10) {
		return fmt.Errorf("%s %q is not unix seconds", timestampHeader, ts)
	}
	if age := now.Sub(time.Unix(secs, 0)); age > MaxAge || age < -MaxAge {
		return fmt.Errorf("%s %q is %s away from now: not fresh", timestampHeader, ts, age.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sigValues[0], "sha256=")
	if !ok {
		return fmt.Errorf("%s %q does not start with sha256=", signatureHeader, sigValues[0])
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || hexSig != strings.ToLower(hexSig) {
		return fmt.Errorf("%s is not lower-case hex", signatureHeader)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature does not match HMAC-SHA256(secret, timestamp.body)")
	}
	return nil
}
