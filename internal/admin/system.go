package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// StatusView describes this node and its store.
type StatusView struct {
	Node          string `json:"node"`
	ConfigVersion string `json:"config_version"`
	Store         string `json:"store"`
	StoreStatus   string `json:"store_status"`
	StoreError    string `json:"store_error,omitempty"`
	Revision      int64  `json:"revision"`
	SchemaVersion int    `json:"schema_version"`
	Role          string `json:"role"`
}

func (s *Server) status(q *request) (int, any) {
	v := StatusView{Node: s.node, ConfigVersion: s.rt.ConfigVersion(), Store: s.st.Driver(), StoreStatus: "ok", SchemaVersion: store.SchemaVersion(), Role: q.who.role}
	if st := s.rt.State(); st != nil {
		v.Revision = st.Revision
	}
	if err := s.rt.StoreError(); err != nil {
		v.StoreStatus, v.StoreError = "unavailable", "the store cannot be reached (see the gateway log)"
	}
	return http.StatusOK, v
}

// RoutesView is the live routes with the config version.
type RoutesView struct {
	ConfigVersion string      `json:"config_version"`
	Items         []RouteView `json:"items"`
}

// ServicesView is the live services with the config version.
type ServicesView struct {
	ConfigVersion string        `json:"config_version"`
	Items         []ServiceView `json:"items"`
}

func (s *Server) routesView(q *request) (int, any) {
	return http.StatusOK, RoutesView{ConfigVersion: s.rt.ConfigVersion(), Items: s.rt.Routes()}
}

func (s *Server) servicesView(q *request) (int, any) {
	return http.StatusOK, ServicesView{ConfigVersion: s.rt.ConfigVersion(), Items: s.rt.Services()}
}

// ReloadView is the result of a reload.
type ReloadView struct {
	ConfigVersion string `json:"config_version"`
}

func (s *Server) reload(q *request) (int, any) {
	if err := s.rt.StoreError(); err != nil {
		return 0, unavailable()
	}
	if err := s.rt.ReloadBy(q.r.Context(), q.who.actor()); err != nil {
		var errs config.Errors
		detail := "the config did not load; the previous one keeps serving: " + err.Error()
		if errors.As(err, &errs) && len(errs) > 0 {
			detail = "the config did not load; the previous one keeps serving: " + errs.Error()
		}
		return 0, problem(http.StatusUnprocessableEntity, detail, "")
	}
	return http.StatusOK, ReloadView{ConfigVersion: s.rt.ConfigVersion()}
}

// RekeyView says how many secrets were sealed again.
type RekeyView struct {
	Resealed int    `json:"resealed"`
	KeyID    string `json:"key_id"`
}

// rekey seals every secret again under the current master key, while the
// gateway serves: nodes hold opened secrets in memory, and every node
// holds the old key among previous_master_keys until the operator removes
// it.
func (s *Server) rekey(q *request) (int, any) {
	if err := s.rt.StoreError(); err != nil {
		return 0, unavailable()
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), time.Minute)
	defer cancel()
	n := 0
	_, err := s.st.Write(ctx, q.who.actor(), func(tx store.Tx) error {
		var err error
		n, err = tx.Rekey()
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNoMasterKey) {
			return 0, s.storeProblem(err)
		}
		s.log.Error("admin: rekey failed; nothing was changed", "error", err)
		return 0, problem(http.StatusConflict, "rekey failed and changed nothing: a secret could not be opened with the configured master keys (see the gateway log)", "")
	}
	_ = s.rt.Sync(ctx)
	return http.StatusOK, RekeyView{Resealed: n, KeyID: s.keyID()}
}

func (s *Server) keyID() string {
	if k, ok := s.st.(interface{ KeyID() string }); ok {
		return k.KeyID()
	}
	return ""
}
