package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slogAttrs is how the access log was written before the hand-written
// encoder: the reference the encoder must match.
func slogAttrs(e *AccessEntry) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("request_id", e.RequestID),
		slog.String("client", e.ClientAddr),
		slog.String("method", e.Method),
		slog.String("host", e.Host),
		slog.String("path", e.Path),
		slog.String("proto", e.Proto),
		slog.String("route", e.Route),
		slog.String("service", e.Service),
		slog.String("upstream", e.Upstream),
		slog.Int("status", e.Status),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.Float64("upstream_ms", float64(e.UpstreamLatency.Microseconds())/1000),
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	return attrs
}

// slogLine is the line slog's JSONHandler writes for e logged at t.
func slogLine(t *testing.T, at time.Time, e *AccessEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(at, slog.LevelInfo, "access", 0)
	r.AddAttrs(slogAttrs(e)...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awkwardStrings exercise every escaping rule.
var awkwardStrings = []string{
	"",
	"plain",
	"/v1/orders/42",
	`say "hi"`,
	`back\slash\`,
	"tab\there\nnew\rline",
	"\x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f",
	"<script>&amp;</script>",
	"café 日本語 🚀",
	"\u2028line\u2029para",
	"bad \xff byte",
	"cut \xe2\x82 rune",
	"surrogate \xed\xa0\x80",
	"overlong \xc0\xaf",
	"\xff",
	"trailing \xe2",
	"é\xffé",
	"\x1f\"\\\u2028\xfe<",
}

// randomString mixes ASCII, control bytes, multi-byte runes, separators
// and random (often invalid) bytes.
func randomString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "/", " ", `"`, `\`, "\n", "\x00", "\x1f", "\x7f", "é", "€", "𝄞", "\u2028", "\u2029", "<", ">", "&", "\ufffd"}
	var b strings.Builder
	for range r.IntN(24) {
		if r.IntN(5) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
	}
	return b.String()
}

var testDurations = []time.Duration{
	0, time.Nanosecond, 999 * time.Nanosecond, time.Microsecond, 1500 * time.Microsecond,
	12345 * time.Microsecond, time.Millisecond, 100 * time.Millisecond, 1234567 * time.Microsecond,
	time.Hour, -time.Microsecond, -1500 * time.Microsecond, math.MaxInt64, math.MinInt64,
}

var testTimes = func() []time.Time {
	now := time.Now()
	return []time.Time{
		now, // the local zone, as the gateway logs
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 5*3600+30*60)),
		time.Date(2026, 6, 1, 0, 0, 0, 1, time.FixedZone("", -8*3600)),
		time.Date(2026, 6, 1, 0, 0, 0, 1000, time.Local),
	}
}()

// checkSame asserts that the encoder writes exactly what slog writes for e
// at t, and that both decode to the same map.
func checkSame(t *testing.T, at time.Time, e *AccessEntry) {
	t.Helper()
	got := appendAccessJSON(nil, at, e)
	want := slogLine(t, at, e)
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %q", got)
	}
	var gm, wm map[string]any
	if err := json.Unmarshal(got, &gm); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wm); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gm, wm) {
		t.Fatalf("decoded lines differ\n got %v\nwant %v", gm, wm)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("lines differ\n got %q\nwant %q", got, want)
	}
}

func TestAccessJSONMatchesSlog(t *testing.T) {
	base := AccessEntry{
		RequestID: "01J0000000000000000000000", ClientAddr: "203.0.113.7", Method: "GET",
		Host: "api.example.com", Path: "/v1/orders", Proto: "HTTP/1.1", Route: "orders",
		Service: "orders", Upstream: "10.0.0.1:8080", Status: 200, BytesIn: 0, BytesOut: 1234,
		Duration: 1500 * time.Microsecond, UpstreamLatency: 1200 * time.Microsecond,
	}
	for _, at := range testTimes {
		checkSame(t, at, &base)
	}
	for _, d := range testDurations {
		e := base
		e.Duration, e.UpstreamLatency = d, d/3
		checkSame(t, testTimes[0], &e)
	}
	for _, n := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
		e := base
		e.Status, e.BytesIn, e.BytesOut = int(n), n, -n
		checkSame(t, testTimes[0], &e)
	}
	// Each string in each field, so that every field is escaped.
	for _, s := range awkwardStrings {
		e := AccessEntry{RequestID: s, ClientAddr: s, Method: s, Host: s, Path: s, Proto: s,
			Route: s, Service: s, Upstream: s, Reason: s, Status: 502}
		checkSame(t, testTimes[0], &e)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		e := AccessEntry{
			RequestID: randomString(r), ClientAddr: randomString(r), Method: randomString(r),
			Host: randomString(r), Path: randomString(r), Proto: randomString(r),
			Route: randomString(r), Service: randomString(r), Upstream: randomString(r),
			Reason: randomString(r), Status: r.IntN(600), BytesIn: r.Int64(), BytesOut: r.Int64N(1 << 20),
			Duration: time.Duration(r.Int64()), UpstreamLatency: time.Duration(r.Int64N(int64(time.Minute))),
		}
		checkSame(t, testTimes[r.IntN(len(testTimes))], &e)
	}
}

func TestAccessJSONFieldsAndOrder(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891000000, time.UTC)
	e := AccessEntry{RequestID: "r1", ClientAddr: "c", Method: "POST", Host: "h", Path: "/p", Proto: "HTTP/2.0",
		Route: "rt", Service: "sv", Upstream: "u", Status: 429, BytesIn: 10, BytesOut: 20,
		Duration: 12345 * time.Microsecond, UpstreamLatency: 0, Reason: "rate limit exceeded"}
	want := `{"time":"2026-03-04T05:06:07.891Z","level":"INFO","msg":"access","request_id":"r1","client":"c",` +
		`"method":"POST","host":"h","path":"/p","proto":"HTTP/2.0","route":"rt","service":"sv","upstream":"u",` +
		`"status":429,"bytes_in":10,"bytes_out":20,"duration_ms":12.345,"upstream_ms":0,"reason":"rate limit exceeded"}` + "\n"
	if got := string(appendAccessJSON(nil, at, &e)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e.Reason = ""
	if got := string(appendAccessJSON(nil, at, &e)); strings.Contains(got, "reason") {
		t.Errorf("an empty reason is written: %s", got)
	}
}

func TestAccessJSONDoesNotAllocate(t *testing.T) {
	e := AccessEntry{RequestID: "01J0000000000000000000000", ClientAddr: "203.0.113.7", Method: "GET",
		Host: "api.example.com", Path: "/v1/\"orders\"/é\xff", Proto: "HTTP/1.1", Route: "orders", Service: "orders",
		Upstream: "10.0.0.1:8080", Status: 200, BytesOut: 1234, Duration: 1500 * time.Microsecond, Reason: "x"}
	buf := make([]byte, 0, 4096)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = appendAccessJSON(buf[:0], now, &e) }); n != 0 {
		t.Errorf("%v allocs per line", n)
	}
}

// appendMillis writes what strconv's shortest 'f' format writes for the
// float64 of us/1000, which is what slog's JSON handler would write.
func TestMillisAsFloatFormat(t *testing.T) {
	check := func(us int64) {
		t.Helper()
		d := time.Duration(us) * time.Microsecond
		want := strconv.FormatFloat(float64(us)/1000, 'f', -1, 64)
		if got := string(appendMillis(nil, d)); got != want {
			t.Fatalf("%d µs: %s, want %s", us, got, want)
		}
	}
	for us := int64(-2000); us < 200000; us++ {
		check(us)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		check(r.Int64N(2e15)) // across the 10^15 boundary
		check(r.Int64N(math.MaxInt64 / 1000))
	}
	for _, us := range []int64{1e15 - 1, 1e15, 1e15 + 1, 999999999999999, 123456789012345} {
		check(us)
	}
}
