package config

import "time"

// Defaults, exported so that the gateway and the docs agree with them.
const (
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultReadTimeout          = 60 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxConcurrentStreams = 250
	DefaultMaxReadFrameSize     = 1 << 20
	DefaultTLSMinVersion        = "1.2"

	DefaultConnectTimeout        = 5 * time.Second
	DefaultResponseTimeout       = 60 * time.Second
	DefaultUpstreamIdleTimeout   = 90 * time.Second
	DefaultMaxIdleConnsPerTarget = 128
	DefaultWeight                = 1
	DefaultAlgorithm             = "round_robin"
	DefaultHashOn                = "client_address"

	DefaultMaxBodySize = 10 << 20

	DefaultOpsAddress      = "127.0.0.1:9901"
	DefaultAccessLogOutput = "stdout"
	DefaultDrainTimeout    = 30 * time.Second

	DefaultConsumerHeader   = "X-Consumer-Name"
	DefaultGroupsHeader     = "X-Consumer-Groups"
	DefaultCredentialHeader = "X-Credential-Id" // #nosec G101 -- a header name, not a credential
	DefaultMethodHeader     = "X-Auth-Method"
)

// Load balancing algorithms and hash sources.
const (
	RoundRobin       = "round_robin"
	LeastConnections = "least_connections"
	ConsistentHash   = "consistent_hash"
	HashOnClientAddr = "client_address"
	HashOnHeader     = "header"
)

// ApplyDefaults fills every field the file left unset with its documented
// default. Parse calls it before validating; it is idempotent.
func (c *Config) ApplyDefaults() {
	if c.ClientAddressHeader == "" {
		c.ClientAddressHeader = ClientAddressAuto
	}
	if c.ClientIPv6Prefix == 0 {
		c.ClientIPv6Prefix = DefaultClientIPv6Prefix
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		setDur(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
		setDur(&l.ReadTimeout, DefaultReadTimeout)
		setDur(&l.IdleTimeout, DefaultIdleTimeout)
		if l.MaxHeaderBytes == 0 {
			l.MaxHeaderBytes = DefaultMaxHeaderBytes
		}
		if l.HTTP2.MaxConcurrentStreams == 0 {
			l.HTTP2.MaxConcurrentStreams = DefaultMaxConcurrentStreams
		}
		if l.HTTP2.MaxReadFrameSize == 0 {
			l.HTTP2.MaxReadFrameSize = DefaultMaxReadFrameSize
		}
		if l.TLS != nil && l.TLS.MinVersion == "" {
			l.TLS.MinVersion = DefaultTLSMinVersion
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		setDur(&s.Timeouts.Connect, DefaultConnectTimeout)
		setDur(&s.Timeouts.Response, DefaultResponseTimeout)
		setDur(&s.Timeouts.Idle, DefaultUpstreamIdleTimeout)
		if s.MaxIdleConnsPerTarget == 0 {
			s.MaxIdleConnsPerTarget = DefaultMaxIdleConnsPerTarget
		}
		for j := range s.Targets {
			if s.Targets[j].Weight == 0 {
				s.Targets[j].Weight = DefaultWeight
			}
		}
		if s.LoadBalancing.Algorithm == "" {
			s.LoadBalancing.Algorithm = DefaultAlgorithm
		}
		if s.LoadBalancing.HashOn == "" {
			s.LoadBalancing.HashOn = DefaultHashOn
		}
		s.applyResilienceDefaults()
	}
	for i := range c.Routes {
		if c.Routes[i].MaxBodySize == 0 {
			c.Routes[i].MaxBodySize = DefaultMaxBodySize
		}
	}
	if c.Ops.Address == "" {
		c.Ops.Address = DefaultOpsAddress
	}
	if c.AccessLog.Output == "" {
		c.AccessLog.Output = DefaultAccessLogOutput
	}
	setDur(&c.Shutdown.DrainTimeout, DefaultDrainTimeout)
	c.applyAdminDefaults()
	setStr(&c.IdentityHeaders.Consumer, DefaultConsumerHeader)
	setStr(&c.IdentityHeaders.Groups, DefaultGroupsHeader)
	setStr(&c.IdentityHeaders.Credential, DefaultCredentialHeader)
	setStr(&c.IdentityHeaders.Method, DefaultMethodHeader)
	// Fingerprints are compared as 64 lower-case hex digits; a malformed
	// one is left as written for Validate to report.
	for i := range c.Consumers {
		for j := range c.Consumers[i].Credentials.MTLS {
			m := &c.Consumers[i].Credentials.MTLS[j]
			if fp, ok := NormalizeFingerprint(m.FingerprintSHA256); ok {
				m.FingerprintSHA256 = fp
			}
		}
	}
}

func setStr(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}
