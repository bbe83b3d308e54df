package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// The audit trail as the API serves it: read-only (no endpoint edits or
// deletes an entry), filtered and paged. Entries are written by the store
// in the transaction of each change (store/audit.go); this file gives the
// store what only the request knows: the client address, a request id and
// the operation.

// auditContext carries the request's details to the store's trail (the
// caller's client address from its principal), and answers the request id
// in X-Request-Id so an operator can find the entries of one call.
func auditContext(w http.ResponseWriter, r *http.Request, p principal) context.Context {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	w.Header().Set("X-Request-Id", id)
	client := p.client
	if client == "" {
		client = clientAddr(r)
	}
	return store.WithAuditInfo(r.Context(), store.AuditInfo{Client: client, RequestID: id, Operation: r.Method + " " + r.URL.Path})
}

// AuditEntryView is an entry as the API shows it.
type AuditEntryView struct {
	store.AuditEntry
	Actor string `json:"actor"`
}

// AuditList is a page of the trail, oldest first; Next is the "after" of
// the next page.
type AuditList struct {
	Items []AuditEntryView `json:"items"`
	Next  string           `json:"next,omitempty"`
}

func parseTime(field, v string) (time.Time, *Problem) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badField(field, "%s must be an RFC 3339 time, such as 2026-01-02T15:04:05Z", field[len("query."):])
	}
	return t, nil
}

func (s *Server) listAudit(q *request) (int, any) {
	q.queryNames = []string{"actor", "resource", "action", "since", "until"}
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	qs := q.r.URL.Query()
	aq := store.AuditQuery{Actor: qs.Get("actor"), Resource: qs.Get("resource"), Action: qs.Get("action"), Limit: limit + 1}
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return 0, badField("query.after", "after must be an entry's sequence number")
		}
		aq.AfterSeq = n
	}
	if aq.Since, p = parseTime("query.since", qs.Get("since")); p != nil {
		return 0, p
	}
	if aq.Until, p = parseTime("query.until", qs.Get("until")); p != nil {
		return 0, p
	}
	for f, v := range map[string]string{"actor": aq.Actor, "resource": aq.Resource, "action": aq.Action} {
		if len(v) > 256 {
			return 0, badField("query."+f, "%s is at most 256 characters", f)
		}
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 10*time.Second)
	defer cancel()
	es, err := s.st.AuditTrail(ctx, aq)
	if err != nil {
		return 0, s.storeProblem(err)
	}
	out := AuditList{Items: []AuditEntryView{}}
	for i, e := range es {
		if i == limit {
			out.Next = strconv.FormatInt(out.Items[len(out.Items)-1].Seq, 10)
			break
		}
		out.Items = append(out.Items, AuditEntryView{AuditEntry: e, Actor: e.ActorKind + ":" + e.ActorName})
	}
	return http.StatusOK, out
}
