package store

import "github.com/portcullis/portcullis/internal/config"

// ConfigConsumers turns the state's consumers and credentials into config
// entries, in the state's order, so the gateway compiles them exactly as
// it compiles the file's.
func (st *State) ConfigConsumers() []config.Consumer {
	if st == nil {
		return nil
	}
	return ToConfigConsumers(st.Consumers, st.Credentials)
}

// ToConfigConsumers is ConfigConsumers for any consumers and credentials
// (the admin API checks a candidate change with it).
func ToConfigConsumers(consumers []Consumer, creds []Credential) []config.Consumer {
	out := make([]config.Consumer, 0, len(consumers))
	at := map[string]int{}
	for _, c := range consumers {
		at[c.Name] = len(out)
		out = append(out, config.Consumer{Name: c.Name, Groups: c.Groups, Scopes: c.Scopes, Metadata: c.Metadata})
	}
	for _, cr := range creds {
		i, ok := at[cr.Consumer]
		if !ok {
			continue
		}
		cc := &out[i].Credentials
		d := cr.Data
		switch cr.Kind {
		case KindAPIKey:
			cc.APIKeys = append(cc.APIKeys, config.APIKeyCredential{ID: cr.ID, Hash: d.Hash, ExpiresAt: d.ExpiresAt, NotAfter: d.NotAfter})
		case KindJWT:
			cc.JWT = append(cc.JWT, config.JWTCredential{Key: d.Key, Algorithm: d.Algorithm, Secret: string(cr.Secret), PublicKey: d.PublicKey})
		case KindBasic:
			cc.Basic = append(cc.Basic, config.BasicCredential{Username: d.Username, PasswordHash: d.PasswordHash})
		case KindMTLS:
			cc.MTLS = append(cc.MTLS, config.MTLSCredential{Subject: d.Subject, SAN: d.SAN, FingerprintSHA256: d.FingerprintSHA256})
		case KindSignatureKey:
			cc.SignatureKeys = append(cc.SignatureKeys, config.SignatureKeyCredential{ID: d.Key, Algorithm: d.Algorithm, Secret: cr.Secret, PublicKey: d.PublicKey})
		}
	}
	return out
}

// SecretValue looks a named secret up (for ${store:NAME}).
func (st *State) SecretValue(name string) ([]byte, bool) {
	if st == nil {
		return nil, false
	}
	for _, s := range st.Secrets {
		if s.Name == name {
			return s.Value, true
		}
	}
	return nil, false
}
