package config

// explicitZeros reports fields the file sets to empty where empty would
// be silently replaced by a default: an identity header named "" is a
// mistake, not a wish for X-Consumer-Name. It runs on the decoded values,
// before ApplyDefaults. Numbers (durations, sizes, "weight: 0") are the
// decoder's (writtenZero), for every one of them.
func (c *Config) explicitZeros() Errors {
	v := &validator{c: c}
	zero := func(path string, isZero bool, msg string) {
		if isZero && c.isSet(path) {
			v.add(path, "%s", msg)
		}
	}
	h := c.IdentityHeaders
	for _, f := range []struct{ name, val, def string }{
		{"consumer", h.Consumer, DefaultConsumerHeader},
		{"groups", h.Groups, DefaultGroupsHeader},
		{"credential", h.Credential, DefaultCredentialHeader},
		{"method", h.Method, DefaultMethodHeader},
	} {
		zero("identity_headers."+f.name, f.val == "", "must not be empty (leave it out for the default "+f.def+")")
	}
	return v.errs
}
