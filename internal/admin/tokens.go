package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/store"
)

// TokenView is an admin token as the API shows it; Token is the value,
// in the creation answer only.
type TokenView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Version   int64  `json:"version"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at,omitempty"`
	// Networks limit where the token may be used from (empty: anywhere).
	Networks []string `json:"networks"`
	// LastUsed and LastClient are the token's last use seen by any node
	// (recorded at most every 10 seconds per node and address).
	LastUsed   string `json:"last_used,omitempty"`
	LastClient string `json:"last_client,omitempty"`
	Token      string `json:"token,omitempty"`
}

func tokenView(t store.Token) TokenView {
	v := TokenView{ID: t.ID, Name: t.Name, Role: t.Role, Version: t.Version, CreatedAt: t.CreatedAt.Format(timeFormat), Networks: nonNilStrings(t.Networks)}
	if !t.ExpiresAt.IsZero() {
		v.ExpiresAt = t.ExpiresAt.Format(timeFormat)
	}
	return v
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// NewToken makes an admin token and its record: the value to show once,
// and the record that keeps only its digest.
func NewToken(name, role string, ttl time.Duration) (value string, t *store.Token, err error) {
	value, err = apikey.Generate(TokenPrefix)
	if err != nil {
		return "", nil, err
	}
	t = &store.Token{ID: randomID("token"), Name: name, Role: role, Hash: apikey.Hash(value).String()}
	if ttl > 0 {
		t.ExpiresAt = time.Now().Add(ttl).UTC().Truncate(time.Second)
	}
	return value, t, nil
}

// Bootstrap creates the first admin token, only in a store that has none.
// It is what `portcullis admin bootstrap` runs, on the machine that holds
// the config, against the store directly.
func Bootstrap(ctx context.Context, st store.Store, name string) (string, *store.Token, error) {
	value, t, err := NewToken(name, store.RoleAdmin, 0)
	if err != nil {
		return "", nil, err
	}
	_, err = st.Write(ctx, store.Actor{Kind: "cli", Name: "bootstrap"}, func(tx store.Tx) error {
		n, err := tx.CountTokens()
		if err != nil {
			return err
		}
		if n > 0 {
			return store.ErrNotEmpty
		}
		return tx.CreateToken(t)
	})
	if err != nil {
		return "", nil, err
	}
	return value, t, nil
}

func (s *Server) listTokens(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	var items []TokenView
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	used := map[string]store.TokenUse{}
	if us, err := s.st.TokenUses(ctx); err == nil {
		for _, u := range us {
			used[u.TokenID] = u
		}
	} else {
		s.log.Warn("admin: admin token use could not be read", "error", err)
	}
	if st := s.rt.State(); st != nil {
		for _, t := range st.Tokens {
			v := tokenView(t)
			if u, ok := used[t.ID]; ok {
				v.LastUsed, v.LastClient = u.LastUsed.Format(timeFormat), u.LastClient
			}
			items = append(items, v)
		}
	}
	return http.StatusOK, paginate(items, func(t TokenView) string { return t.ID }, limit, after)
}

type tokenInput struct {
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	ExpiresIn string   `json:"expires_in"`
	ExpiresAt string   `json:"expires_at"`
	Networks  []string `json:"networks"`
}

func (s *Server) createToken(q *request) (int, any) {
	var in tokenInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if p := checkName(in.Name); p != nil {
		return 0, p
	}
	if p := checkRole(in.Role); p != nil {
		return 0, p
	}
	var ttl time.Duration
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d < time.Minute || d > 5*365*24*time.Hour {
			return 0, badField("expires_in", "expires_in must be a duration from 1m to 43800h, such as 720h")
		}
		ttl = d
	}
	var at time.Time
	if in.ExpiresAt != "" {
		if in.ExpiresIn != "" {
			return 0, badField("expires_at", "set expires_in or expires_at, not both")
		}
		t, err := time.Parse(time.RFC3339, in.ExpiresAt)
		if err != nil || !t.After(time.Now()) || t.After(time.Now().Add(5*365*24*time.Hour)) {
			return 0, badField("expires_at", "expires_at must be an RFC 3339 time in the future, within 5 years")
		}
		at = t.UTC()
	}
	nets, prob := tokenNetworks(in.Networks)
	if prob != nil {
		return 0, prob
	}
	value, t, err := NewToken(in.Name, in.Role, ttl)
	if err != nil {
		return 0, problem(http.StatusInternalServerError, "no token could be generated", "")
	}
	if !at.IsZero() {
		t.ExpiresAt = at
	}
	t.Networks = nets
	if p := q.write(func(tx store.Tx) error { return tx.CreateToken(t) }); p != nil {
		return 0, p
	}
	v := tokenView(*t)
	v.Token = value
	q.w.Header().Set("Location", "/admin/tokens/"+t.ID)
	return http.StatusCreated, v
}

func (s *Server) deleteToken(q *request) (int, any) {
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	id := q.r.PathValue("id")
	if p := q.writeAt("path.id", func(tx store.Tx) error { return tx.DeleteToken(id, ifv) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}
