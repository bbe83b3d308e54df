package auth

import (
	"errors"

	"github.com/portcullis/portcullis/internal/config"
)

// CheckConsumers builds every credential index from cfg's consumers, as
// the methods do when a route uses them, and returns the problems found.
// A change made through the admin API is checked with it before it is
// stored, so that a credential no route uses yet (a public key that does
// not parse, a password hash with absurd parameters) cannot break the
// compile of a later config that starts using it.
func CheckConsumers(cfg *config.Config) error {
	var errs []error
	if _, err := NewConsumers(cfg.Consumers); err != nil {
		errs = append(errs, err)
	}
	if idx := buildKeyIndex(cfg, cfg.Consumers, &keyUsageStore{byID: map[string]*keyCounter{}}); idx.err != nil {
		errs = append(errs, idx.err)
	}
	if _, err := buildCredentialIndex(cfg, cfg.Consumers); err != nil {
		errs = append(errs, err)
	}
	if idx, err := buildBasicIndex(cfg, cfg.Consumers); err != nil {
		errs = append(errs, err)
	} else if idx.err != nil {
		errs = append(errs, idx.err)
	}
	if _, ferrs := buildMTLSIndex(cfg.Consumers, cfg); len(ferrs) > 0 {
		errs = append(errs, ferrs)
	}
	return errors.Join(errs...)
}
