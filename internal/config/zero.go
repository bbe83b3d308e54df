package config

// explicitZeros reports fields the file sets to zero where zero would be
// silently replaced by a default: "weight: 0" is a mistake (or a wish to
// drain the target), not a wish for weight 1. It runs on the decoded
// values, before ApplyDefaults. Durations and sizes are the decoder's
// (writtenZero), for every one of them.
func (c *Config) explicitZeros() Errors {
	v := &validator{c: c}
	zero := func(path string, isZero bool, msg string) {
		if isZero && c.isSet(path) {
			v.add(path, "%s", msg)
		}
	}
	for i, l := range c.Listeners {
		p := indexPath("listeners", i)
		zero(p+".http2.max_concurrent_streams", l.HTTP2.MaxConcurrentStreams == 0, "must be at least 1")
		zero(p+".http2.max_read_frame_size", l.HTTP2.MaxReadFrameSize == 0, "must be between 16KiB and 16MiB-1 (RFC 9113)")
	}
	for i, s := range c.Services {
		p := indexPath("services", i)
		zero(p+".max_idle_conns_per_target", s.MaxIdleConnsPerTarget == 0, "must be at least 1")
		for j, t := range s.Targets {
			zero(indexPath(p+".targets", j)+".weight", t.Weight == 0, "must be between 1 and 1000")
		}
	}
	zero("client_ipv6_prefix", c.ClientIPv6Prefix == 0, "must be from 32 to 128")
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
