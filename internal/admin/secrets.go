package admin

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/store"
)

// Named secrets: values the config references as ${store:NAME} (webhook
// secrets). They are write-only: the store keeps each value sealed under
// the master key, an answer carries a value only when the server generated
// it (once), and no read returns one. A change applies on every node like
// a reload (the config compiles again with the new value).

// SecretView is a named secret without its value. ReferencedBy lists the
// config fields that use it (this node's config file).
type SecretView struct {
	Name         string   `json:"name"`
	Version      int64    `json:"version"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
	ReferencedBy []string `json:"referenced_by"`
	// Value is a generated value, in the answer that generated it only.
	Value string `json:"value,omitempty"`
}

// secretInput is the body of POST /admin/secrets and PUT
// /admin/secrets/{name}; an empty value asks the server to generate one.
type secretInput struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

const (
	minSecretValue = 32 // bytes: an HMAC-SHA256 key as long as its output
	maxSecretValue = 4096
)

func (s *Server) secretView(sc store.Secret) SecretView {
	refs := []string{}
	if fc := s.rt.FileConfig(); fc != nil {
		refs = append(refs, fc.StoreSecretRefs()[sc.Name]...)
	}
	return SecretView{Name: sc.Name, Version: sc.Version, CreatedAt: sc.CreatedAt.Format(timeFormat),
		UpdatedAt: sc.UpdatedAt.Format(timeFormat), ReferencedBy: refs}
}

func (s *Server) findSecret(name string) (store.Secret, bool) {
	if st := s.rt.State(); st != nil {
		for _, sc := range st.Secrets {
			if sc.Name == name {
				return sc, true
			}
		}
	}
	return store.Secret{}, false
}

// value checks the given value or generates one (returned for the answer).
func (in *secretInput) value() (plain []byte, generated string, p *Problem) {
	if in.Value == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		generated = base64.RawURLEncoding.EncodeToString(b) // its text is the key
		return []byte(generated), generated, nil
	}
	if len(in.Value) < minSecretValue || len(in.Value) > maxSecretValue {
		return nil, "", badField("value", "a secret is from %d to %d bytes (omit value to have one generated)", minSecretValue, maxSecretValue)
	}
	return []byte(in.Value), "", nil
}

func (s *Server) listSecrets(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	var items []SecretView
	if st := s.rt.State(); st != nil {
		for _, sc := range st.Secrets {
			items = append(items, s.secretView(sc))
		}
	}
	return http.StatusOK, paginate(items, func(v SecretView) string { return v.Name }, limit, after)
}

func (s *Server) getSecret(q *request) (int, any) {
	sc, ok := s.findSecret(q.r.PathValue("name"))
	if !ok {
		return 0, problem(http.StatusNotFound, "no such secret", "path.name")
	}
	q.w.Header().Set("ETag", etag(sc.Version))
	return http.StatusOK, s.secretView(sc)
}

func (s *Server) createSecret(q *request) (int, any) {
	var in secretInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if p := checkName(in.Name); p != nil {
		return 0, p
	}
	plain, generated, p := in.value()
	if p != nil {
		return 0, p
	}
	sc := &store.Secret{Name: in.Name, Value: plain}
	if p := q.write(func(tx store.Tx) error { return tx.CreateSecret(sc) }); p != nil {
		return 0, p
	}
	v := s.secretView(*sc)
	v.Value = generated
	q.w.Header().Set("ETag", etag(sc.Version))
	q.w.Header().Set("Location", "/admin/secrets/"+sc.Name)
	return http.StatusCreated, v
}

// updateSecret replaces a secret's value (a rotation): every webhook that
// references it signs with the new value once the change reaches its node.
func (s *Server) updateSecret(q *request) (int, any) {
	name := q.r.PathValue("name")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	var in secretInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if in.Name != "" && in.Name != name {
		return 0, badField("name", "name is the path's; it cannot change")
	}
	plain, generated, p := in.value()
	if p != nil {
		return 0, p
	}
	sc := &store.Secret{Name: name, Value: plain}
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.UpdateSecret(sc, ifv) }); p != nil {
		return 0, p
	}
	v := s.secretView(*sc)
	v.Value = generated
	q.w.Header().Set("ETag", etag(sc.Version))
	return http.StatusOK, v
}

// deleteSecret removes a secret the config does not reference: removing
// one it does would leave a webhook without its key.
func (s *Server) deleteSecret(q *request) (int, any) {
	name := q.r.PathValue("name")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	if fc := s.rt.FileConfig(); fc != nil {
		if refs := fc.StoreSecretRefs()[name]; len(refs) > 0 {
			return 0, problem(http.StatusConflict, "the config references this secret at "+strings.Join(refs, ", ")+": remove the references first", "path.name")
		}
	}
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.DeleteSecret(name, ifv) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}
