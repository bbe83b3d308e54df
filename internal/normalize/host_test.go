package normalize

import "testing"

func TestCheckHost(t *testing.T) {
	for _, tc := range []struct {
		desc, in, host string
		bad            bool
	}{
		{desc: "reg-name", in: "api.example.com", host: "api.example.com"},
		{desc: "reg-name with port", in: "api.example.com:8443", host: "api.example.com"},
		{desc: "empty value (no authority)", in: "", host: ""},
		{desc: "IPv4 with port", in: "192.0.2.1:80", host: "192.0.2.1"},
		{desc: "IPv6 literal", in: "[2001:db8::1]", host: "2001:db8::1"},
		{desc: "IPv6 literal with port", in: "[2001:db8::1]:443", host: "2001:db8::1"},
		{desc: "trailing dot kept for the router", in: "api.example.com.", host: "api.example.com."},
		{desc: "unreserved", in: "a_b~c-d.e", host: "a_b~c-d.e"},
		{desc: "sub-delim comma", in: "a.example,b.example", bad: true},
		{desc: "sub-delim semicolon", in: "a.example;b", bad: true},
		{desc: "sub-delim equals", in: "a=b", bad: true},
		{desc: "port of six digits", in: "h:080800", bad: true},
		{desc: "port above 65535", in: "h:65536", bad: true},
		{desc: "port with a sign", in: "h:+80", bad: true},
		{desc: "port with letters", in: "h:80a", bad: true},
		{desc: "empty port", in: "h:", bad: true},
		{desc: "port only", in: ":80", bad: true},
		{desc: "userinfo", in: "user@h", bad: true},
		{desc: "userinfo with password", in: "user:pw@h:80", bad: true},
		{desc: "unbracketed IPv6", in: "2001:db8::1", bad: true},
		{desc: "IPv6 zone", in: "[fe80::1%25eth0]", bad: true},
		{desc: "IPv4 in brackets", in: "[192.0.2.1]", bad: true},
		{desc: "IPvFuture", in: "[v1.fe80::a+en1]", bad: true},
		{desc: "unclosed bracket", in: "[2001:db8::1", bad: true},
		{desc: "garbage after bracket", in: "[2001:db8::1]x", bad: true},
		{desc: "percent-encoding", in: "ex%61mple.com", bad: true},
		{desc: "slash", in: "example.com/evil", bad: true},
		{desc: "space", in: "example.com evil", bad: true},
		{desc: "backslash", in: `example.com\evil`, bad: true},
		{desc: "question mark", in: "example.com?x", bad: true},
		{desc: "hash", in: "example.com#x", bad: true},
		{desc: "control byte", in: "exa\x01mple.com", bad: true},
		{desc: "non-ASCII", in: "exämple.com", bad: true},
		{desc: "too long", in: string(make([]byte, 256)), bad: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := CheckHost(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("CheckHost(%q) accepted it as %q", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.host {
				t.Fatalf("CheckHost(%q) = %q, %v; want %q", tc.in, got, err, tc.host)
			}
		})
	}
}

// FuzzCheckHost: its seed corpus is in testdata/fuzz/FuzzCheckHost.
func FuzzCheckHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		h, err := CheckHost(s)
		if err != nil {
			return
		}
		// What is accepted has no byte that could end or split a header,
		// a path or a URL, and its host is a prefix of the value (or the
		// inside of its brackets).
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '%' || c == '\\' {
				t.Fatalf("accepted %q with byte %q", s, c)
			}
		}
		if len(s) > 0 && s[0] == '[' {
			if len(s) < len(h)+2 || s[1:1+len(h)] != h {
				t.Fatalf("host %q not inside %q", h, s)
			}
		} else if len(s) < len(h) || s[:len(h)] != h {
			t.Fatalf("host %q not a prefix of %q", h, s)
		}
	})
}
