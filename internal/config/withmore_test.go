package config

import (
	"errors"
	"testing"
)

// TestWithMoreListsEachProblemOnce: the compile step's errors on a config
// that failed validation are added only when they are new: not at or below
// a field already in error (a consequence), not at a block that holds one
// (the same problem again, at the block's line).
func TestWithMoreListsEachProblemOnce(t *testing.T) {
	found := Errors{
		{Path: "trusted_proxies[1]", Msg: `"bogus" is not a CIDR or IP address`},
		{Path: "services[0].tls.ca_file", Msg: "cannot read"},
		{Path: "routes[0].service", Msg: "no such service"},
	}
	for _, tc := range []struct {
		desc string
		more *FieldError
		kept bool
	}{
		{"the block of a field in error", &FieldError{Path: "trusted_proxies", Msg: `invalid IP address "bogus"`}, false},
		{"a service whose TLS field is in error", &FieldError{Path: "services[0]", Msg: "target 1: tls.ca_file"}, false},
		{"below a field in error", &FieldError{Path: "routes[0].service.x", Msg: "echo"}, false},
		{"the field in error itself", &FieldError{Path: "routes[0].service", Msg: "again"}, false},
		{"the whole config", &FieldError{Path: "", Msg: "echo"}, false},
		{"another service", &FieldError{Path: "services[1]", Msg: "bad certificate"}, true},
		{"a sibling field", &FieldError{Path: "routes[0].policies[0]", Msg: "rate_limit: limits"}, true},
		{"a name that only starts like a field in error", &FieldError{Path: "trusted_proxies_extra", Msg: "x"}, true},
		{"another index with the same prefix", &FieldError{Path: "services[0]x", Msg: "x"}, true},
	} {
		err := found.WithMore(Errors{tc.more})
		var got Errors
		if !errors.As(err, &got) {
			t.Fatalf("%s: %v is not Errors", tc.desc, err)
		}
		kept := len(got) == len(found)+1
		if kept != tc.kept {
			t.Errorf("%s: %q kept = %v, want %v (%v)", tc.desc, tc.more.Path, kept, tc.kept, got)
		}
	}
}
