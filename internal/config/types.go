// Package config defines Portcullis's declarative configuration: the YAML
// schema, strict decoding with file:line:col errors, secret references
// (${env:NAME}, ${file:/path}) and validation. It knows nothing about how the
// configuration is served; internal/gateway compiles it into a snapshot.
package config

import (
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Version must be 1.
	Version int `yaml:"version"`
	// TrustedProxies lists the CIDRs (or single addresses) whose forwarding
	// headers (X-Forwarded-For, Forwarded, X-Request-Id) are believed.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// ClientAddressHeader says which forwarding header of a trusted proxy
	// names the client: "auto" (default), "x-forwarded-for" or "forwarded".
	ClientAddressHeader string `yaml:"client_address_header,omitempty"`
	// ClientIPv6Prefix is how many leading bits of an IPv6 client address
	// name one client where the gateway counts per client (rate limits by
	// client_address, intrusion detection's counts and bans): 64 by
	// default, a subscriber's network (ClientKey).
	ClientIPv6Prefix int        `yaml:"client_ipv6_prefix,omitempty"`
	Listeners        []Listener `yaml:"listeners"`
	Services         []Service  `yaml:"services"`
	Routes           []Route    `yaml:"routes"`
	Ops              Ops        `yaml:"ops,omitempty"`
	AccessLog        AccessLog  `yaml:"access_log,omitempty"`
	Shutdown         Shutdown   `yaml:"shutdown,omitempty"`
	// Consumers are the clients of the APIs and their credentials.
	Consumers []Consumer `yaml:"consumers,omitempty"`
	// IdentityHeaders names the headers the gateway sets toward upstreams
	// for an authenticated request (and always strips from clients).
	IdentityHeaders IdentityHeaders `yaml:"identity_headers,omitempty"`
	// IPFilter is the global allow and deny list of client addresses,
	// checked on every request before routing.
	IPFilter *IPFilter `yaml:"ip_filter,omitempty"`
	// IntrusionDetection counts security events per client and bans the
	// clients that cross a threshold.
	IntrusionDetection *IntrusionDetection `yaml:"intrusion_detection,omitempty"`
	// Admin is the control plane: the admin API and its store (admin.go).
	Admin *Admin `yaml:"admin,omitempty"`
	// IdentityAssertion holds the keys that sign the identity assertions
	// services verify (services[].identity_assertion turns them on).
	IdentityAssertion *IdentityAssertion `yaml:"identity_assertion,omitempty"`
	// Observability configures metrics, tracing, the security event
	// stream and threshold alerts (observability.go).
	Observability Observability `yaml:"observability,omitempty"`

	// File is the path the config was read from (not part of the YAML).
	File string `yaml:"-"`
	// SHA256 is the hex SHA-256 of the bytes the config was parsed from
	// (not part of the YAML): which file content is live.
	SHA256 string `yaml:"-"`

	// meta holds what decoding learned about the file: node positions by
	// field path and which values came from secret references.
	meta *meta
	// store is set on a config merged with the store's consumers (merge.go).
	store *storeConsumers
}

// Listener is one public proxy listener, plain HTTP or HTTPS.
type Listener struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// TLS makes this an HTTPS listener.
	TLS *ListenerTLS `yaml:"tls,omitempty"`
	// RedirectToHTTPS makes a plain listener answer every request with a
	// 308 to the same URL on https (the value is the HTTPS port, 443 when 0).
	RedirectToHTTPS *RedirectToHTTPS `yaml:"redirect_to_https,omitempty"`

	ReadHeaderTimeout Duration `yaml:"read_header_timeout,omitempty"`        // default 10s
	ReadTimeout       Duration `yaml:"read_timeout,omitempty"`               // default 60s
	WriteTimeout      Duration `yaml:"write_timeout,omitempty" zero:"value"` // default 0 (streaming)
	IdleTimeout       Duration `yaml:"idle_timeout,omitempty"`               // default 120s
	MaxHeaderBytes    Size     `yaml:"max_header_bytes,omitempty"`           // default 64KiB
	HTTP2             HTTP2    `yaml:"http2,omitempty"`
	// MaxConnections bounds the open client connections on this listener
	// (0: unlimited); MaxConnectionsPerClient bounds them per peer address.
	MaxConnections          int `yaml:"max_connections,omitempty" zero:"value"`
	MaxConnectionsPerClient int `yaml:"max_connections_per_client,omitempty" zero:"value"`
	// AllowUnderscoreAndDotHeaders keeps request header names that contain
	// '_' or '.' (dropped by default: other servers read them as another
	// header's name).
	AllowUnderscoreAndDotHeaders bool `yaml:"allow_underscore_and_dot_headers,omitempty"`
}

// RedirectToHTTPS configures the plain-HTTP redirect listener.
type RedirectToHTTPS struct {
	Port int `yaml:"port,omitempty"`
}

// HTTP2 limits for client connections (HTTPS listeners only).
type HTTP2 struct {
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams,omitempty"` // default 250
	MaxReadFrameSize     uint32 `yaml:"max_read_frame_size,omitempty"`    // default 1MiB
	Disable              bool   `yaml:"disable,omitempty"`
}

// ListenerTLS configures an HTTPS listener.
type ListenerTLS struct {
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version,omitempty"`
	HSTS       *HSTS  `yaml:"hsts,omitempty"`
	// ClientAuth asks clients for certificates (mTLS).
	ClientAuth *ClientAuth `yaml:"client_auth,omitempty"`
	// AllowSNIHostMismatch serves requests whose Host is not the name the
	// client asked for in SNI (refused with 421 by default).
	AllowSNIHostMismatch bool `yaml:"allow_sni_host_mismatch,omitempty"`
}

// ClientAuth configures client certificate checks on an HTTPS listener.
type ClientAuth struct {
	// Mode: "request" (verify a certificate when one is sent) or "require"
	// (refuse the handshake without a valid one).
	Mode string `yaml:"mode"`
	// CAFile is the PEM bundle that client certificates must chain to.
	CAFile string `yaml:"ca_file"`
	// Hosts lists the SNI names this check applies to; empty means all.
	// A request whose Host names a host that requires certificates on a
	// connection whose SNI did not is refused with 421.
	Hosts []string `yaml:"hosts,omitempty"`
	// CRLFiles are certificate revocation lists (PEM or DER), each signed
	// by a CA of CAFile; reloaded when they change. A revoked certificate
	// fails the handshake.
	CRLFiles []string `yaml:"crl_files,omitempty"`
	// OCSP asks the responder named in each client certificate.
	OCSP *OCSP `yaml:"ocsp,omitempty"`
}

// OCSP configures online revocation checks of client certificates.
type OCSP struct {
	// Failure: "closed" (default; a certificate whose status cannot be
	// learned is refused) or "open" (accepted, and logged).
	Failure string `yaml:"failure,omitempty"`
	// Timeout bounds one responder request (default 2s).
	Timeout Duration `yaml:"timeout,omitempty"`
	// MaxCache bounds how long an answer is reused (default 1h; never
	// past the answer's own next update).
	MaxCache Duration `yaml:"max_cache,omitempty"`
}

// Certificate is a certificate and key pair; the first one is the default
// when no SNI name matches.
type Certificate struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// HSTS adds Strict-Transport-Security to responses on an HTTPS listener.
type HSTS struct {
	MaxAge            Duration `yaml:"max_age"` // required; 0s: browsers forget the policy
	IncludeSubdomains bool     `yaml:"include_subdomains,omitempty"`
	Preload           bool     `yaml:"preload,omitempty"`
}

// Service is an upstream service: one or more targets behind a balancer.
type Service struct {
	Name          string        `yaml:"name"`
	Targets       []Target      `yaml:"targets"`
	LoadBalancing LoadBalancing `yaml:"load_balancing,omitempty"`
	Timeouts      Timeouts      `yaml:"timeouts,omitempty"`
	// MaxIdleConnsPerTarget bounds the keep-alive pool (default 128).
	MaxIdleConnsPerTarget int `yaml:"max_idle_conns_per_target,omitempty"`
	// MaxConnsPerTarget bounds open connections per target (0: unlimited).
	MaxConnsPerTarget int        `yaml:"max_conns_per_target,omitempty" zero:"value"`
	TLS               *ClientTLS `yaml:"tls,omitempty"`
	// HealthCheck probes each target actively; unhealthy targets are skipped.
	HealthCheck *HealthCheck `yaml:"health_check,omitempty"`
	// Passive ejects a target after failures seen on real requests.
	Passive *PassiveHealth `yaml:"passive_health,omitempty"`
	// CircuitBreaker stops sending to a failing target (fast 503 instead).
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker,omitempty"`
	// Retries retries failed requests when it is safe, within a budget.
	Retries *Retries `yaml:"retries,omitempty"`
	// IdentityAssertion adds a signed, short-lived statement of who the
	// caller is (and an optional HMAC gateway signature) to every request
	// sent to this service.
	IdentityAssertion *ServiceAssertion `yaml:"identity_assertion,omitempty"`
	// CaseInsensitivePaths declares that the upstream treats paths that
	// differ only in ASCII letter case as one path (Express by default,
	// ASP.NET, IIS). The routes to this service then match paths
	// case-insensitively, so "/ADMIN/x" meets the route "/admin" and its
	// policies rather than a catch-all.
	CaseInsensitivePaths bool `yaml:"case_insensitive_paths,omitempty"`
	// WindowsPaths declares that the upstream maps paths onto Windows file
	// names (IIS, ASP.NET or Tomcat on Windows): it implies
	// CaseInsensitivePaths, and a request to it whose path Windows would
	// read as another name (a segment ending in a dot or a space, a colon,
	// a short name such as ADMINI~1, a wildcard character) is refused
	// (normalize.WindowsAmbiguity).
	WindowsPaths bool `yaml:"windows_paths,omitempty"`
	// TrailingSlashInsensitivePaths declares that the upstream treats
	// "/admin/" and "/admin" as one path (Express, ASP.NET Core, Rails and
	// Spring Boot 2 by default). The routes to this service then match
	// their exact paths and prefixes with or without a trailing slash, so
	// "/admin/" meets the exact route "/admin" and its policies.
	TrailingSlashInsensitivePaths bool `yaml:"trailing_slash_insensitive_paths,omitempty"`
}

// FoldsPathCase reports whether the service's upstream reads paths in any
// letter case: case_insensitive_paths, or windows_paths, which implies it.
func (s *Service) FoldsPathCase() bool { return s.CaseInsensitivePaths || s.WindowsPaths }

// ReadsPathsLoosely reports whether the routes to this service match more
// spellings of a path than the one written (letter case, a trailing slash).
func (s *Service) ReadsPathsLoosely() bool {
	return s.FoldsPathCase() || s.TrailingSlashInsensitivePaths
}

// IdentityAssertion is the gateway's assertion signing keys.
type IdentityAssertion struct {
	// Issuer is the iss claim (default "portcullis").
	Issuer string `yaml:"issuer,omitempty"`
	// Keys are published as a JWKS on the ops listener; the first one
	// signs. Listing the next key second before promoting it, and the old
	// one second after, makes rotation seamless.
	Keys []AssertionKey `yaml:"keys"`
}

// AssertionKey is one signing key: an Ed25519 (EdDSA) or P-256 (ES256)
// private key in a PEM file.
type AssertionKey struct {
	ID             string `yaml:"id"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// ServiceAssertion configures the assertion sent to one service.
type ServiceAssertion struct {
	// Header carries the JWT (default X-Portcullis-Assertion).
	Header string `yaml:"header,omitempty"`
	// TTL is the assertion's lifetime (default 60s, 1s to 1h).
	TTL Duration `yaml:"ttl,omitempty"`
	// BindRequest signs one assertion per request with the request id,
	// method and path in it (no reuse; costs a signature per request).
	BindRequest bool `yaml:"bind_request,omitempty"`
	// GatewaySignature adds an HMAC over method, path, timestamp and
	// request id, for services that cannot verify a JWT.
	GatewaySignature *GatewaySignature `yaml:"gateway_signature,omitempty"`
}

// GatewaySignature is the HMAC-SHA256 gateway signature of a service.
type GatewaySignature struct {
	// Header carries the signature (default X-Portcullis-Signature).
	Header string `yaml:"header,omitempty"`
	// Secret is the HMAC key (at least 32 bytes), usually ${env:NAME}.
	Secret string `yaml:"secret"`
}

// HealthCheck is an active HTTP health check run against every target.
type HealthCheck struct {
	// Path is requested with GET, e.g. /healthz.
	Path     string   `yaml:"path"`
	Interval Duration `yaml:"interval,omitempty"` // default 10s
	Timeout  Duration `yaml:"timeout,omitempty"`  // default 2s
	// HealthyThreshold consecutive successes mark a target healthy (default 2).
	HealthyThreshold int `yaml:"healthy_threshold,omitempty"`
	// UnhealthyThreshold consecutive failures mark it unhealthy (default 3).
	UnhealthyThreshold int `yaml:"unhealthy_threshold,omitempty"`
	// ExpectedStatuses are the statuses that count as healthy (default 200-399).
	ExpectedStatuses []int `yaml:"expected_statuses,omitempty" empty:"the default, 200-399"`
}

// PassiveHealth ejects a target after failures (connection failures,
// timeouts, 5xx responses) on real requests, for CoolOff.
type PassiveHealth struct {
	// ConsecutiveFailures in a row eject the target (default 5).
	ConsecutiveFailures int `yaml:"consecutive_failures,omitempty"`
	// FailureRatio (0 to 1; 0: off) ejects the target when that share of
	// requests within Window failed, once MinRequests were seen.
	FailureRatio float64  `yaml:"failure_ratio,omitempty" zero:"value"`
	Window       Duration `yaml:"window,omitempty"`       // default 10s
	MinRequests  int      `yaml:"min_requests,omitempty"` // default 10
	CoolOff      Duration `yaml:"cool_off,omitempty"`     // default 30s
}

// CircuitBreaker is a per-target breaker: closed, open after
// FailureThreshold consecutive failures, half-open after OpenDuration with
// HalfOpenRequests trial requests, closed again when they all succeed.
type CircuitBreaker struct {
	FailureThreshold int      `yaml:"failure_threshold,omitempty"`  // default 5
	OpenDuration     Duration `yaml:"open_duration,omitempty"`      // default 30s
	HalfOpenRequests int      `yaml:"half_open_requests,omitempty"` // default 1
}

// Retries retries a failed request on another pick of target, only when
// it is safe: a connection failure before any byte was sent (any method),
// or an idempotent method whose body is absent or small enough to replay.
type Retries struct {
	// Attempts is the total number of tries, the first included (default 2).
	Attempts int `yaml:"attempts,omitempty"`
	// PerTryTimeout bounds each try until response headers (0: timeouts.response).
	PerTryTimeout Duration `yaml:"per_try_timeout,omitempty"`
	// Timeout bounds all tries together until response headers (0: none).
	Timeout Duration `yaml:"timeout,omitempty"`
	// BudgetRatio caps retries at this share of requests over 10 s
	// (default 0.2; 0: only MinRetriesPerSecond). A pointer: a written 0
	// is the operator's, not the default.
	BudgetRatio *float64 `yaml:"budget_ratio,omitempty"`
	// MinRetriesPerSecond are allowed whatever the ratio (default 3; 0:
	// none beyond the ratio).
	MinRetriesPerSecond *int `yaml:"min_retries_per_second,omitempty"`
	// RetryOn lists the conditions: connect_failure, timeout, 502, 503, 504
	// (default connect_failure, 502, 503, 504).
	RetryOn []string `yaml:"retry_on,omitempty" empty:"the default, connect_failure, 502, 503 and 504"`
}

// Target is one upstream address, as a URL: http://host:port or https://host:port.
type Target struct {
	URL    string `yaml:"url"`
	Weight int    `yaml:"weight,omitempty"` // default 1
}

// LoadBalancing picks a target per request.
type LoadBalancing struct {
	// Algorithm: round_robin (default), least_connections, consistent_hash.
	Algorithm string `yaml:"algorithm,omitempty"`
	// HashOn (consistent_hash only): client_address (default) or header.
	HashOn string `yaml:"hash_on,omitempty"`
	// HashHeader is the header hashed when HashOn is header.
	HashHeader string `yaml:"hash_header,omitempty"`
}

// Timeouts toward a service's targets.
type Timeouts struct {
	Connect  Duration `yaml:"connect,omitempty"`  // default 5s
	Response Duration `yaml:"response,omitempty"` // time to response headers, default 60s
	Idle     Duration `yaml:"idle,omitempty"`     // idle keep-alive connection lifetime, default 90s
}

// ClientTLS configures how the gateway verifies a server it connects to
// (a service's https:// targets, Redis) and the client certificate it
// presents to it, so the server can refuse any caller that is not the
// gateway (internal/clienttls).
type ClientTLS struct {
	// CAFile is a PEM bundle; the system roots are used when empty.
	CAFile string `yaml:"ca_file,omitempty"`
	// ServerName overrides the name verified in the target's certificate.
	ServerName string `yaml:"server_name,omitempty"`
	// CertFile and KeyFile are the client certificate and key the gateway
	// presents, so a service can refuse any caller that is not the
	// gateway; reloaded when the files change.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ExpectedIdentity is the identity the target's certificate must
	// carry: a DNS name, or a SPIFFE ID (spiffe://trust-domain/path)
	// matched against the certificate's URI SAN.
	ExpectedIdentity string `yaml:"expected_identity,omitempty"`
	// MinVersion is "1.2" or "1.3" (default).
	MinVersion string `yaml:"min_version,omitempty"`
}

// Route maps matching requests to a service.
type Route struct {
	Name string `yaml:"name"`
	// Hosts: exact names or a leading wildcard (*.example.com). Empty
	// matches every host.
	Hosts   []string      `yaml:"hosts,omitempty" empty:"every host"`
	Paths   []PathMatch   `yaml:"paths"`
	Methods []string      `yaml:"methods,omitempty" empty:"every method"`
	Headers []HeaderMatch `yaml:"headers,omitempty"`
	// Priority breaks ties between equally specific routes (higher first).
	Priority int    `yaml:"priority,omitempty" zero:"value"`
	Service  string `yaml:"service"`
	// StripPrefix removes the matched prefix before proxying.
	StripPrefix bool `yaml:"strip_prefix,omitempty"`
	// Rewrite replaces the matched path (or prefix) with an internal path
	// (obfuscated URIs): /v1/orders -> /internal/7f3a9c/orders-svc.
	Rewrite string `yaml:"rewrite,omitempty"`
	// PreserveHost sends the client's Host upstream instead of the target's.
	PreserveHost bool `yaml:"preserve_host,omitempty"`
	// MaxBodySize limits the request body (default 10MiB).
	MaxBodySize Size `yaml:"max_body_size,omitempty"`
	// AllowEncodedSlashes lets %2F stand inside a path segment.
	AllowEncodedSlashes bool `yaml:"allow_encoded_slashes,omitempty"`
	// MethodOverride honours X-HTTP-Method-Override (and its variants) on
	// POST requests: the gateway routes and authorizes by the overridden
	// method. Without it those headers are dropped.
	MethodOverride bool `yaml:"method_override,omitempty"`
	// Policies run in the gateway's fixed phases, whatever order they are listed in.
	Policies []PolicySpec `yaml:"policies,omitempty"`
	// Auth: "none" says explicitly that the route needs no authentication.
	// A route that lists a policy needing an identity must have an auth
	// policy instead.
	Auth string `yaml:"auth,omitempty"`
}

// PathMatch is exactly one of Exact, Prefix or Regex.
type PathMatch struct {
	Exact  string `yaml:"exact,omitempty"`
	Prefix string `yaml:"prefix,omitempty"`
	Regex  string `yaml:"regex,omitempty"`
}

// HeaderMatch requires a request header: equal to Value, matching Regex,
// or only present when both are empty.
type HeaderMatch struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value,omitempty"`
	Regex string `yaml:"regex,omitempty"`
}

// PolicySpec is one entry of a route's policy list: a kind and the rest of
// the mapping, which the kind's compiler decodes strictly.
type PolicySpec struct {
	Kind string
	// Node is the whole mapping, kind included, for the kind's decoder and
	// for error positions.
	Node *yaml.Node
	// Path is the entry's field path, e.g. routes[2].policies[0]; set by
	// Parse and used to prefix the paths of the kind's decoding errors.
	Path string
}

// Ops is the operations listener (health, readiness; later admin, metrics).
type Ops struct {
	Address string `yaml:"address,omitempty"` // default 127.0.0.1:9901
	Disable bool   `yaml:"disable,omitempty"`
	// Allow lists the peers (addresses or CIDRs) that may use the
	// listener; empty: every peer that can reach it. The identity
	// assertion's JWKS stays open to every peer: services fetch it, and it
	// holds public keys only.
	Allow []string `yaml:"allow,omitempty" empty:"every peer that can reach the listener"`
}

// AccessLog configures the JSON access log.
type AccessLog struct {
	// Output: stdout (default), stderr, off, or a file path.
	Output string `yaml:"output,omitempty"`
}

// Shutdown configures graceful shutdown on SIGTERM.
type Shutdown struct {
	DrainTimeout Duration `yaml:"drain_timeout,omitempty"` // default 30s
}

// Consumer is a client of the APIs: an app, a partner, another service.
type Consumer struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups,omitempty"`
	// Scopes are granted to the consumer's identity when it authenticates
	// with api_key, basic, mtls or as anonymous; for jwt and introspection
	// the token's own scopes stay authoritative.
	Scopes      []string          `yaml:"scopes,omitempty"`
	Metadata    map[string]string `yaml:"metadata,omitempty"`
	Credentials Credentials       `yaml:"credentials,omitempty"`
}

// Credentials are the ways a consumer can prove who it is. Secrets are
// hashes or ${env:...}/${file:...} references, never required inline.
type Credentials struct {
	JWT     []JWTCredential    `yaml:"jwt,omitempty"`
	APIKeys []APIKeyCredential `yaml:"api_keys,omitempty"`
	Basic   []BasicCredential  `yaml:"basic,omitempty"`
	MTLS    []MTLSCredential   `yaml:"mtls,omitempty"`
	// SignatureKeys come from the store only (credential kind
	// signature_key, through the admin API); the file lists signed-request
	// keys in the signature policy.
	SignatureKeys []SignatureKeyCredential `yaml:"-"`
}

// SignatureKeyCredential is a key of signed requests (RFC 9421) that the
// store holds for a consumer. Every signature policy accepts it besides
// the keys its own config lists; an id in both is an error.
type SignatureKeyCredential struct {
	ID        string
	Algorithm string // hmac-sha256 or ed25519
	Secret    []byte // hmac-sha256
	PublicKey string // ed25519: PEM or the 32 bytes in base64
}

// JWTCredential verifies tokens whose key id (the kid header, or the claim
// a route's jwt method names) equals Key, Kong-style.
type JWTCredential struct {
	Key string `yaml:"key"`
	// Algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA.
	Algorithm string `yaml:"algorithm"`
	// Secret is the HMAC secret (HS*), usually ${env:NAME}.
	Secret string `yaml:"secret,omitempty"`
	// PublicKey is a PEM public key (RS*, PS*, ES*, EdDSA), usually ${file:/path}.
	PublicKey string `yaml:"public_key,omitempty"`
}

// APIKeyCredential is one API key, stored only as its hash.
type APIKeyCredential struct {
	// ID names the key in logs, usage counters and X-Credential-Id.
	ID string `yaml:"id"`
	// Hash is "sha256:<64 hex digits>" as printed by `portcullis keys generate`.
	Hash string `yaml:"hash"`
	// ExpiresAt (RFC 3339) ends the key's life.
	ExpiresAt string `yaml:"expires_at,omitempty"`
	// NotAfter (RFC 3339) is the rotation grace deadline of a key being
	// replaced: after it, the old key is refused.
	NotAfter string `yaml:"not_after,omitempty"`
}

// BasicCredential is a username and a bcrypt or argon2id password hash.
type BasicCredential struct {
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash"`
}

// MTLSCredential maps a verified client certificate to the consumer, by
// exactly one of subject, SAN or SHA-256 fingerprint.
type MTLSCredential struct {
	Subject           string `yaml:"subject,omitempty"`
	SAN               string `yaml:"san,omitempty"`
	FingerprintSHA256 string `yaml:"fingerprint_sha256,omitempty"`
}

// IdentityHeaders names the identity headers sent upstream.
type IdentityHeaders struct {
	Consumer   string `yaml:"consumer,omitempty"`   // default X-Consumer-Name
	Groups     string `yaml:"groups,omitempty"`     // default X-Consumer-Groups
	Credential string `yaml:"credential,omitempty"` // default X-Credential-Id
	Method     string `yaml:"method,omitempty"`     // default X-Auth-Method
}

// IPFilter is an allow and deny list of client addresses (IPv4, IPv6,
// CIDRs), checked against the address computed with TrustedProxies. Deny
// wins; without an allow list every address not denied is allowed (a
// written allow: [] is refused). The same shape is the ip_filter policy of
// a route.
type IPFilter struct {
	Allow []string `yaml:"allow,omitempty" empty:"every address not denied"`
	Deny  []string `yaml:"deny,omitempty"`
	// AllowFile and DenyFile name files with one CIDR or address per
	// line (# starts a comment), for large lists; read at every load.
	AllowFile string `yaml:"allow_file,omitempty"`
	DenyFile  string `yaml:"deny_file,omitempty"`
}

// IntrusionDetection counts security events (authentication failures,
// refusals, WAF hits, rate-limit hits, 404 scans, malformed requests) per
// client address in sliding windows, and bans a client that crosses a
// rule's threshold.
type IntrusionDetection struct {
	Rules []IntrusionRule `yaml:"rules"`
	// Allow lists CIDRs or addresses that are never banned.
	Allow []string `yaml:"allow,omitempty"`
	// Store: "local" (default; bans held by this node) or "redis" (bans
	// shared by every node using the same Redis and prefix).
	Store  string           `yaml:"store,omitempty"`
	Redis  *IntrusionRedis  `yaml:"redis,omitempty"`
	Alerts *IntrusionAlerts `yaml:"alerts,omitempty"`
}

// IntrusionRule bans a client after Threshold events of one kind within
// Window. A zero Ban only alerts.
type IntrusionRule struct {
	// Event: auth_failure, forbidden, not_found, rate_limited, malformed or waf.
	Event     string   `yaml:"event"`
	Threshold int      `yaml:"threshold"`
	Window    Duration `yaml:"window"`
	Ban       Duration `yaml:"ban,omitempty" zero:"value"` // 0s: alert only
}

// RedisServer is how the gateway reaches one Redis: its address, ACL
// credentials, database and TLS. A rate_limit or signature policy's redis
// block and intrusion detection's hold one (internal/redisconn).
type RedisServer struct {
	Address  string `yaml:"address"`
	Username string `yaml:"username,omitempty"` // ACL user (Redis 6+); "" : the default user
	// Password is usually ${env:NAME} or ${file:/path}.
	Password string `yaml:"password,omitempty"`
	DB       int    `yaml:"db,omitempty" zero:"value"`
	// TLS connects over TLS, verifying the server as a service's https://
	// targets are verified; nil: plain TCP.
	TLS *ClientTLS `yaml:"tls,omitempty"`
}

// IntrusionRedis is the Redis server that shares bans between nodes.
type IntrusionRedis struct {
	RedisServer `yaml:",inline"`
	// Prefix starts every key (default "portcullis:ids:").
	Prefix  string   `yaml:"prefix,omitempty"`
	Timeout Duration `yaml:"timeout,omitempty"` // default 500ms
	// SyncInterval is how often a node reads the shared bans (default 1s).
	SyncInterval Duration `yaml:"sync_interval,omitempty"`
}

// IntrusionAlerts sends threshold crossings and bans to webhooks.
type IntrusionAlerts struct {
	Webhooks []AlertWebhook `yaml:"webhooks"`
	Timeout  Duration       `yaml:"timeout,omitempty"` // per attempt, default 2s
	// Retries are the attempts after the first (default 3; 0: none).
	Retries *int `yaml:"retries,omitempty"`
}

// AlertWebhook is one alert receiver.
type AlertWebhook struct {
	URL string `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature of each delivery; usually
	// ${env:NAME}.
	Secret string `yaml:"secret,omitempty"`
	// TLS verifies an https:// receiver as a service's https:// targets
	// are (a private CA, an expected identity) and presents the gateway's
	// client certificate to one that requires it.
	TLS *ClientTLS `yaml:"tls,omitempty"`
}
