package config

// explicitZeros reports fields the file sets to zero where zero would be
// silently replaced by a default: "connect: 0s" is a mistake, not a wish
// for 5s. It runs on the decoded values, before ApplyDefaults.
func (c *Config) explicitZeros() Errors {
	v := &validator{c: c}
	zero := func(path string, isZero bool, msg string) {
		if isZero && c.isSet(path) {
			v.add(path, "%s", msg)
		}
	}
	const positive = "must be greater than 0"
	for i, l := range c.Listeners {
		p := indexPath("listeners", i)
		zero(p+".read_header_timeout", l.ReadHeaderTimeout == 0, positive)
		zero(p+".read_timeout", l.ReadTimeout == 0, positive)
		zero(p+".idle_timeout", l.IdleTimeout == 0, positive)
		zero(p+".max_header_bytes", l.MaxHeaderBytes == 0, "must be between 1KiB and 1MiB")
		zero(p+".http2.max_concurrent_streams", l.HTTP2.MaxConcurrentStreams == 0, "must be at least 1")
		zero(p+".http2.max_read_frame_size", l.HTTP2.MaxReadFrameSize == 0, "must be between 16KiB and 16MiB-1 (RFC 9113)")
		if l.TLS != nil && l.TLS.ClientAuth != nil && l.TLS.ClientAuth.OCSP != nil {
			o, op := l.TLS.ClientAuth.OCSP, p+".tls.client_auth.ocsp"
			zero(op+".timeout", o.Timeout == 0, positive)
			// "max_cache: 0s" reads as "ask the responder at every
			// handshake"; it meant the default hour, in which a revoked
			// certificate kept its good answer.
			zero(op+".max_cache", o.MaxCache == 0, "must be greater than 0 (an answer is reused at most until its own next update; leave it out for the default 1h)")
		}
	}
	for i, s := range c.Services {
		p := indexPath("services", i)
		zero(p+".timeouts.connect", s.Timeouts.Connect == 0, positive)
		zero(p+".timeouts.response", s.Timeouts.Response == 0, positive)
		zero(p+".timeouts.idle", s.Timeouts.Idle == 0, positive)
		zero(p+".max_idle_conns_per_target", s.MaxIdleConnsPerTarget == 0, "must be at least 1")
		for j, t := range s.Targets {
			zero(indexPath(p+".targets", j)+".weight", t.Weight == 0, "must be between 1 and 1000")
		}
	}
	for i, r := range c.Routes {
		zero(indexPath("routes", i)+".max_body_size", r.MaxBodySize == 0, positive)
	}
	zero("shutdown.drain_timeout", c.Shutdown.DrainTimeout == 0, positive)
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
