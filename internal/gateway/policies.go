package gateway

// The policy kinds the gateway knows. Each package registers its kinds in
// init functions; adding a kind to one of these packages is one new file.
import (
	_ "github.com/portcullis/portcullis/internal/auth"
	_ "github.com/portcullis/portcullis/internal/transform"
)
