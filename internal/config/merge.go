package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Consumers from the store (the admin API) join the file's consumers in
// one list, after them, and go through the same checks: the validator's,
// then the credential indexes every auth method builds. A name in both is
// an error, as is a credential value (an API key hash, a JWT key, a
// username, a certificate property) claimed twice anywhere. Errors about a
// store consumer name it instead of an index that means nothing to an
// operator: `(store): consumers["acme"].credentials.api_keys[0].hash`.

// StoreFile stands for the file name in errors about store records.
const StoreFile = "(store)"

// storeConsumers records where the store's consumers start in Consumers.
type storeConsumers struct {
	from  int
	names []string
}

// WithStoreConsumers returns a copy of c whose consumers are c's followed
// by extra, checked as the file's are. c is not changed. The file's own
// consumers were checked when it loaded; only problems the extra ones
// bring are reported.
func (c *Config) WithStoreConsumers(extra []Consumer) (*Config, error) {
	m := *c
	m.Consumers = make([]Consumer, 0, len(c.Consumers)+len(extra))
	m.Consumers = append(m.Consumers, c.Consumers...)
	m.Consumers = append(m.Consumers, extra...)
	sc := &storeConsumers{from: len(c.Consumers)}
	for _, e := range extra {
		sc.names = append(sc.names, e.Name)
	}
	m.store = sc
	for i := sc.from; i < len(m.Consumers); i++ {
		for j := range m.Consumers[i].Credentials.MTLS {
			cr := &m.Consumers[i].Credentials.MTLS[j]
			if fp, ok := NormalizeFingerprint(cr.FingerprintSHA256); ok {
				cr.FingerprintSHA256 = fp
			}
		}
	}
	v := &validator{c: &m}
	v.consumers()
	var errs Errors
	for _, e := range v.errs {
		if e.File == StoreFile {
			errs = append(errs, e)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &m, nil
}

// StoreConsumerCount is how many consumers came from the store.
func (c *Config) StoreConsumerCount() int {
	if c.store == nil {
		return 0
	}
	return len(c.store.names)
}

// storeError rewrites an error about a store consumer's field; nil when
// path is not about one.
func (c *Config) storeError(path, msg string) *FieldError {
	if c.store == nil {
		return nil
	}
	rest, ok := strings.CutPrefix(path, "consumers[")
	if !ok {
		return nil
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return nil
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil || i < c.store.from || i-c.store.from >= len(c.store.names) {
		return nil
	}
	return &FieldError{File: StoreFile, Path: fmt.Sprintf("consumers[%q]%s", c.store.names[i-c.store.from], rest[end+1:]), Msg: msg}
}
