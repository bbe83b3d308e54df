package auth

import (
	"fmt"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Consumer is a client of the APIs as authentication sees it.
type Consumer struct {
	Name   string
	Groups []string
	// Scopes are the consumer's standing grants. They reach the identity
	// for api_key, basic, mtls and anonymous; jwt and introspection carry
	// the token's scopes only, so a token never gains what it was not
	// issued for.
	Scopes   []string
	Metadata map[string]string
}

// Consumers is the consumer index of one snapshot. Today it is built from
// the config file; a run-time store will sit behind the same methods.
// Credential indexes (by kid, key hash, username, certificate) are built by
// each method from Configs, once per snapshot (see the SharedValues keys "auth.*").
type Consumers struct {
	byName map[string]*Consumer
	cfgs   []config.Consumer
}

// ConsumersOf returns the snapshot's consumer index, building it once.
func ConsumersOf(env pipeline.CompileEnv) (*Consumers, error) {
	v, err := env.Snapshot.Get("auth.consumers", func() (any, error) {
		return NewConsumers(env.Config.Consumers)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Consumers), nil
}

// NewConsumers indexes consumers by name.
func NewConsumers(cfgs []config.Consumer) (*Consumers, error) {
	cs := &Consumers{byName: map[string]*Consumer{}, cfgs: cfgs}
	for _, c := range cfgs {
		if _, dup := cs.byName[c.Name]; dup {
			return nil, fmt.Errorf("consumer %q is defined twice", c.Name)
		}
		cs.byName[c.Name] = &Consumer{Name: c.Name, Groups: c.Groups, Scopes: c.Scopes, Metadata: c.Metadata}
	}
	return cs, nil
}

// ByName returns a consumer, or nil.
func (cs *Consumers) ByName(name string) *Consumer { return cs.byName[name] }

// Configs returns the consumers' config entries, credentials included, for
// methods to build their indexes from.
func (cs *Consumers) Configs() []config.Consumer { return cs.cfgs }

// Identity returns a fresh identity for consumer name, with the consumer's
// scopes (for the credential methods that carry no scopes of their own).
func (cs *Consumers) Identity(name, credentialID, method string) *pipeline.Identity {
	c := cs.byName[name]
	if c == nil {
		return nil
	}
	return &pipeline.Identity{Consumer: c.Name, Groups: c.Groups, Scopes: c.Scopes, CredentialID: credentialID, Method: method}
}
