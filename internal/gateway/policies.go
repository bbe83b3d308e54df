package gateway

// The policy kinds the gateway knows. Each package registers its kinds in
// init functions; adding a kind to one of these packages is one new file.
// This list is the only one: internal/pipeline's contracts test reads it
// (and fails when a package that registers kinds is missing from it).
import (
	_ "github.com/portcullis/portcullis/internal/auth"
	_ "github.com/portcullis/portcullis/internal/authz"
	_ "github.com/portcullis/portcullis/internal/concurrency"
	_ "github.com/portcullis/portcullis/internal/ipfilter"
	_ "github.com/portcullis/portcullis/internal/openapi"
	_ "github.com/portcullis/portcullis/internal/ratelimit"
	_ "github.com/portcullis/portcullis/internal/response"
	_ "github.com/portcullis/portcullis/internal/transform"
	_ "github.com/portcullis/portcullis/internal/validate"
	_ "github.com/portcullis/portcullis/internal/waf"
)
