package admin

import (
	"net/http"
	"net/netip"
	"sort"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// BanView is a ban in force on this node. Source is "manual" (made
// through the API, kept in the store) or "detector" (intrusion
// detection, this node's or shared through Redis).
type BanView struct {
	Address   string `json:"address"`
	Until     string `json:"until"`
	Source    string `json:"source"`
	Reason    string `json:"reason,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

// maxManualBan bounds a ban made by hand, like the detector's bans.
const maxManualBan = 7 * 24 * time.Hour

func (s *Server) listBans(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	manual := map[string]store.Ban{}
	if st := s.rt.State(); st != nil {
		for _, b := range st.Bans {
			if !b.Lifted {
				manual[b.Address] = b
			}
		}
	}
	var items []BanView
	if d := s.rt.Detector(); d != nil {
		for _, e := range d.List() {
			v := BanView{Address: e.Address.String(), Until: e.Until.Format(timeFormat), Source: "detector"}
			if m, ok := manual[v.Address]; ok && !m.Until.Before(e.Until.Add(-time.Second)) {
				v.Source, v.Reason, v.CreatedBy = "manual", m.Reason, m.CreatedBy
			}
			items = append(items, v)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Address < items[j].Address })
	return http.StatusOK, paginate(items, func(b BanView) string { return b.Address }, limit, after)
}

type banInput struct {
	Address  string `json:"address"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func (s *Server) createBan(q *request) (int, any) {
	var in banInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	a, err := netip.ParseAddr(in.Address)
	if err != nil || a.Zone() != "" {
		return 0, badField("address", "address must be one IPv4 or IPv6 address")
	}
	a = a.Unmap()
	d, err := time.ParseDuration(in.Duration)
	if err != nil || d < time.Second || d > maxManualBan {
		return 0, badField("duration", "duration must be from 1s to 168h, such as 1h")
	}
	if len(in.Reason) > 256 {
		return 0, badField("reason", "reason is at most 256 bytes")
	}
	if s.rt.Detector() == nil {
		return 0, problem(http.StatusConflict, "bans are not enforced on this node", "")
	}
	b := &store.Ban{Address: a.String(), Until: time.Now().Add(d).UTC().Truncate(time.Millisecond), Reason: in.Reason, CreatedBy: q.who.label()}
	if p := q.write(func(tx store.Tx) error { return tx.PutBan(b) }); p != nil {
		return 0, p
	}
	q.w.Header().Set("Location", "/admin/bans/"+b.Address)
	return http.StatusCreated, BanView{Address: b.Address, Until: b.Until.Format(timeFormat), Source: "manual", Reason: b.Reason, CreatedBy: b.CreatedBy}
}

// deleteBan lifts a ban, whoever made it: this node at once (and the
// shared Redis set, so no node reads it back), every other node when the
// lift reaches it.
func (s *Server) deleteBan(q *request) (int, any) {
	a, err := netip.ParseAddr(q.r.PathValue("address"))
	if err != nil || a.Zone() != "" {
		return 0, badField("path.address", "address must be one IPv4 or IPv6 address")
	}
	a = a.Unmap()
	d := s.rt.Detector()
	if d == nil {
		return 0, problem(http.StatusNotFound, "no such ban", "path.address")
	}
	found := false
	for _, e := range d.List() {
		if e.Address == a {
			found = true
		}
	}
	if !found {
		return 0, problem(http.StatusNotFound, "no such ban", "path.address")
	}
	if err := d.Lift(q.r.Context(), a, true); err != nil {
		s.log.Warn("admin: ban lifted here but not removed from Redis", "address", a.String(), "error", err)
	}
	if p := q.write(func(tx store.Tx) error { return tx.LiftBan(a.String()) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}
