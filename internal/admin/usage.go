package admin

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// UsageView is the use of one API key, or of every key of one consumer,
// summed over every node that flushed it to the store.
type UsageView struct {
	KeyID      string `json:"key_id,omitempty"`
	Consumer   string `json:"consumer"`
	Requests   uint64 `json:"requests"`
	Refused    uint64 `json:"refused"`
	LastUsed   string `json:"last_used,omitempty"`
	LastClient string `json:"last_client,omitempty"`
}

// usage flushes this node's counts and reads the sums.
func (s *Server) usage(q *request) ([]store.Usage, *Problem) {
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	if err := s.rt.FlushUsage(ctx); err != nil {
		s.log.Warn("admin: usage not flushed", "error", err)
		return nil, unavailable()
	}
	us, err := s.st.Usage(ctx)
	if err != nil {
		s.log.Warn("admin: usage not read", "error", err)
		return nil, unavailable()
	}
	return us, nil
}

func usageView(u store.Usage) UsageView {
	v := UsageView{KeyID: u.KeyID, Consumer: u.Consumer, Requests: u.Requests, Refused: u.Refused, LastClient: u.LastClient}
	if !u.LastUsed.IsZero() {
		v.LastUsed = u.LastUsed.Format(timeFormat)
	}
	return v
}

func (s *Server) keyUsage(q *request) (int, any) {
	q.queryNames = []string{"consumer"}
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	us, p := s.usage(q)
	if p != nil {
		return 0, p
	}
	consumer := q.r.URL.Query().Get("consumer")
	var items []UsageView
	for _, u := range us {
		if consumer == "" || u.Consumer == consumer {
			items = append(items, usageView(u))
		}
	}
	return http.StatusOK, paginate(items, func(u UsageView) string { return u.KeyID }, limit, after)
}

func (s *Server) consumerUsage(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	us, p := s.usage(q)
	if p != nil {
		return 0, p
	}
	by := map[string]*store.Usage{}
	for _, u := range us {
		c := by[u.Consumer]
		if c == nil {
			c = &store.Usage{Consumer: u.Consumer}
			by[u.Consumer] = c
		}
		c.Requests += u.Requests
		c.Refused += u.Refused
		if u.LastUsed.After(c.LastUsed) {
			c.LastUsed, c.LastClient = u.LastUsed, u.LastClient
		}
	}
	var items []UsageView
	for _, u := range by {
		items = append(items, usageView(*u))
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Consumer < items[j].Consumer })
	return http.StatusOK, paginate(items, func(u UsageView) string { return u.Consumer }, limit, after)
}
