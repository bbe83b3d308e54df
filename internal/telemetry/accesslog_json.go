package telemetry

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendAccessJSON appends e as one JSON line logged at t, byte for byte as
// slog's JSONHandler wrote it (same keys, order, escaping and number
// formats), so that nothing reading the access log notices the change. It
// does not allocate beyond growing b.
func appendAccessJSON(b []byte, t time.Time, e *AccessEntry) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"access","request_id":`...)
	b = appendJSONString(b, e.RequestID)
	b = append(b, `,"client":`...)
	b = appendJSONString(b, e.ClientAddr)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.Proto)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, e.Service)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.Upstream)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.Duration)
	b = append(b, `,"upstream_ms":`...)
	b = appendMillis(b, e.UpstreamLatency)
	if e.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, e.Reason)
	}
	return append(b, "}\n"...)
}

// appendMillis appends d in milliseconds with microsecond precision.
// encoding/json (which slog uses for floats) switches to exponent notation
// below 1e-6 and from 1e21; a whole number of microseconds over 1000 is
// either 0 or at least 0.001 in magnitude, and at most about 9.2e12, so the
// plain 'f' format is always what it would write. Below 10^15 µs (31
// years) that is also the decimal us/1000 with its trailing zeros dropped:
// a decimal of at most 15 significant digits is the shortest text of the
// float64 nearest it, so it is written from the integer, without the float
// formatter (TestMillisAsFloatFormat).
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 || us >= 1e15 {
		return strconv.AppendFloat(b, float64(us)/1000, 'f', -1, 64)
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string, escaped as slog's
// JSONHandler does: '"' and '\\' with a backslash; \n, \r and \t by name;
// other bytes below 0x20 as \u00XX; each invalid UTF-8 byte as \ufffd; and
// U+2028 and U+2029, which break JavaScript consumers, as \u2028 and \u2029.
// "<", ">" and "&" are not escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is safe and not yet appended
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
