package http1

import (
	"net/http"
	"sync/atomic"
	"time"
)

// dateCache holds the Date field value (RFC 9110 section 6.6.1, IMF-fixdate)
// of the current second: formatted once per second however many responses
// carry it.
type dateValue struct {
	sec int64
	b   []byte // "Date: ...\r\n"
}

var dateCache atomic.Pointer[dateValue]

func appendDate(dst []byte, now time.Time) []byte {
	sec := now.Unix()
	d := dateCache.Load()
	if d == nil || d.sec != sec {
		b := make([]byte, 0, 40)
		b = append(b, "Date: "...)
		b = now.UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
		d = &dateValue{sec: sec, b: b}
		dateCache.Store(d)
	}
	return append(dst, d.b...)
}
