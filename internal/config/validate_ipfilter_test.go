package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestValidateIPFilter(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"empty", minimal + "ip_filter: {}\n",
			`gw.yaml:14:12: ip_filter: at least one of allow, deny, allow_file or deny_file is required`},
		{"bad allow entry", minimal + "ip_filter:\n  allow: [10.0.0.0/8, 10.0.0.300]\n",
			`gw.yaml:15:23: ip_filter.allow[1]: "10.0.0.300" is not a CIDR or IP address`},
		{"bad deny cidr", minimal + "ip_filter:\n  deny: [\"2001:db8::/129\"]\n",
			`gw.yaml:15:10: ip_filter.deny[0]: "2001:db8::/129" is not a CIDR or IP address`},
		{"allow_file missing", minimal + "ip_filter:\n  allow_file: /nonexistent/allow.txt\n",
			`gw.yaml:15:15: ip_filter.allow_file: cannot read "/nonexistent/allow.txt": no such file or directory`},
		{"unknown field", minimal + "ip_filter:\n  deny: [192.0.2.1]\n  allw: [10.0.0.0/8]\n",
			`gw.yaml:16:3: ip_filter.allw: unknown field "allw" (did you mean "allow"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

func TestValidIPFilter(t *testing.T) {
	f := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(f, []byte("# bad actors\n203.0.113.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, minimal+"ip_filter:\n  allow: [10.0.0.0/8, \"::1\", 192.0.2.7]\n  deny_file: "+f+"\n")
	if c.IPFilter == nil || len(c.IPFilter.Allow) != 3 || c.IPFilter.DenyFile != f {
		t.Fatalf("ip_filter = %+v", c.IPFilter)
	}
}
