package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// ConsumerView is a consumer as the API shows it. Source is "store"
// (changed through the API) or "file" (read-only here).
type ConsumerView struct {
	Name      string            `json:"name"`
	Groups    []string          `json:"groups"`
	Scopes    []string          `json:"scopes"`
	Metadata  map[string]string `json:"metadata"`
	Source    string            `json:"source"`
	Version   int64             `json:"version"`
	CreatedAt string            `json:"created_at,omitempty"`
	UpdatedAt string            `json:"updated_at,omitempty"`
}

// consumerInput is the body of POST and PUT.
type consumerInput struct {
	Name     *string           `json:"name"`
	Groups   []string          `json:"groups"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`
}

const (
	maxMetadataEntries = 64
	maxMetadataValue   = 1024
)

// check validates the parts the config validator does not see first.
func (in *consumerInput) check() *Problem {
	if len(in.Groups) > 256 {
		return badField("groups", "at most 256 groups")
	}
	if len(in.Scopes) > 256 {
		return badField("scopes", "at most 256 scopes")
	}
	if len(in.Metadata) > maxMetadataEntries {
		return badField("metadata", "at most %d entries", maxMetadataEntries)
	}
	for k, v := range in.Metadata {
		if !config.ValidName(k) {
			return badField("metadata", "metadata key %q %s", k, config.NameRule())
		}
		if len(v) > maxMetadataValue || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return badField("metadata."+k, "a value is at most %d bytes of UTF-8 text without control characters", maxMetadataValue)
		}
	}
	return nil
}

func storeConsumerView(c store.Consumer) ConsumerView {
	return ConsumerView{Name: c.Name, Groups: nonNilS(c.Groups), Scopes: nonNilS(c.Scopes), Metadata: nonNilM(c.Metadata), Source: "store",
		Version: c.Version, CreatedAt: c.CreatedAt.Format(timeFormat), UpdatedAt: c.UpdatedAt.Format(timeFormat)}
}

func fileConsumerView(c config.Consumer) ConsumerView {
	return ConsumerView{Name: c.Name, Groups: nonNilS(c.Groups), Scopes: nonNilS(c.Scopes), Metadata: nonNilM(c.Metadata), Source: "file"}
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func nonNilS(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilM(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// allConsumers lists the file's and the store's consumers, sorted.
func (s *Server) allConsumers() []ConsumerView {
	var out []ConsumerView
	for _, c := range s.rt.FileConfig().Consumers {
		out = append(out, fileConsumerView(c))
	}
	if st := s.rt.State(); st != nil {
		for _, c := range st.Consumers {
			out = append(out, storeConsumerView(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) listConsumers(q *request) (int, any) {
	q.queryNames = []string{"group", "prefix", "source"}
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	qs := q.r.URL.Query()
	group, prefix, source := qs.Get("group"), qs.Get("prefix"), qs.Get("source")
	if source != "" && source != "file" && source != "store" {
		return 0, badField("query.source", "source must be file or store")
	}
	var items []ConsumerView
	for _, c := range s.allConsumers() {
		if prefix != "" && !strings.HasPrefix(c.Name, prefix) {
			continue
		}
		if source != "" && c.Source != source {
			continue
		}
		if group != "" && !contains(c.Groups, group) {
			continue
		}
		items = append(items, c)
	}
	return http.StatusOK, paginate(items, func(c ConsumerView) string { return c.Name }, limit, after)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findConsumer returns the consumer named in the path.
func (s *Server) findConsumer(name string) (ConsumerView, bool) {
	for _, c := range s.allConsumers() {
		if c.Name == name {
			return c, true
		}
	}
	return ConsumerView{}, false
}

func (s *Server) getConsumer(q *request) (int, any) {
	c, ok := s.findConsumer(q.r.PathValue("name"))
	if !ok {
		return 0, problem(http.StatusNotFound, "no such consumer", "path.name")
	}
	if c.Source == "store" {
		q.w.Header().Set("ETag", etag(c.Version))
	}
	return http.StatusOK, c
}

// writable refuses changes to what the file defines.
func (s *Server) writable(name string) *Problem {
	if s.rt.FileConfig().Admin != nil && s.rt.FileConfig().Admin.FileAuthoritative {
		return problem(http.StatusConflict, "the config file is authoritative for consumers (admin.file_authoritative): the API cannot change them", "")
	}
	for _, c := range s.rt.FileConfig().Consumers {
		if c.Name == name {
			return problem(http.StatusConflict, "consumer "+name+" is defined in the config file: change it there", "path.name")
		}
	}
	return nil
}

func (s *Server) createConsumer(q *request) (int, any) {
	var in consumerInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if in.Name == nil || *in.Name == "" {
		return 0, badField("name", "name is required")
	}
	if !config.ValidName(*in.Name) {
		return 0, badField("name", "name %s", config.NameRule())
	}
	if p := in.check(); p != nil {
		return 0, p
	}
	if p := s.writable(*in.Name); p != nil {
		return 0, p
	}
	c := &store.Consumer{Name: *in.Name, Groups: in.Groups, Scopes: in.Scopes, Metadata: in.Metadata}
	if p := s.checkCandidate(func(cs []store.Consumer, cr []store.Credential) ([]store.Consumer, []store.Credential) {
		return append(cs, *c), cr
	}, "consumer", c.Name, -1); p != nil {
		return 0, p
	}
	if p := q.write(func(tx store.Tx) error { return tx.CreateConsumer(c) }); p != nil {
		return 0, p
	}
	q.w.Header().Set("ETag", etag(c.Version))
	q.w.Header().Set("Location", "/admin/consumers/"+c.Name)
	return http.StatusCreated, storeConsumerView(*c)
}

func (s *Server) updateConsumer(q *request) (int, any) {
	name := q.r.PathValue("name")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	var in consumerInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if in.Name != nil && *in.Name != name {
		return 0, badField("name", "name cannot change (it is the consumer's identity); create a new consumer instead")
	}
	if p := in.check(); p != nil {
		return 0, p
	}
	if p := s.writable(name); p != nil {
		return 0, p
	}
	c := &store.Consumer{Name: name, Groups: in.Groups, Scopes: in.Scopes, Metadata: in.Metadata}
	if p := s.checkCandidate(func(cs []store.Consumer, cr []store.Credential) ([]store.Consumer, []store.Credential) {
		for i := range cs {
			if cs[i].Name == name {
				cs[i] = *c
			}
		}
		return cs, cr
	}, "consumer", name, -1); p != nil {
		return 0, p
	}
	if p := q.write(func(tx store.Tx) error { return tx.UpdateConsumer(c, ifv) }); p != nil {
		return 0, p
	}
	cur, _ := s.findConsumer(name)
	q.w.Header().Set("ETag", etag(c.Version))
	return http.StatusOK, cur
}

func (s *Server) deleteConsumer(q *request) (int, any) {
	name := q.r.PathValue("name")
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	if p := s.writable(name); p != nil {
		return 0, p
	}
	if p := s.checkCandidate(func(cs []store.Consumer, cr []store.Credential) ([]store.Consumer, []store.Credential) {
		var keep []store.Consumer
		for _, c := range cs {
			if c.Name != name {
				keep = append(keep, c)
			}
		}
		var keepCr []store.Credential
		for _, c := range cr {
			if c.Consumer != name {
				keepCr = append(keepCr, c)
			}
		}
		return keep, keepCr
	}, "consumer", name, -1); p != nil {
		return 0, p
	}
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.DeleteConsumer(name, ifv) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}

// checkCandidate applies change to the store state this node holds and
// compiles the result with the file config, as every node will once the
// change is stored. A problem is a 400 naming the field when it is about
// the changed record, else a 409 saying what the change would break.
func (s *Server) checkCandidate(change func([]store.Consumer, []store.Credential) ([]store.Consumer, []store.Credential), kind, name string, _ int) *Problem {
	st := s.rt.State()
	var cs []store.Consumer
	var cr []store.Credential
	if st != nil {
		cs = append(cs, st.Consumers...)
		cr = append(cr, st.Credentials...)
	}
	cs, cr = change(cs, cr)
	err := s.rt.Check(store.ToConfigConsumers(cs, cr))
	if err == nil {
		return nil
	}
	return candidateProblem(err, kind, name)
}

// candidateProblem turns compile errors into an answer: the first error
// about the changed consumer names its field (400); anything else means
// the change conflicts with the rest (409).
func candidateProblem(err error, kind, name string) *Problem {
	var fes []*config.FieldError
	collectFieldErrors(err, &fes)
	prefix := `consumers["` + name + `"]`
	for _, fe := range fes {
		if rest, ok := strings.CutPrefix(fe.Path, prefix); ok && fe.File == config.StoreFile {
			field := apiField(rest)
			if strings.Contains(fe.Msg, "already used") || strings.Contains(fe.Msg, "already mapped") || strings.Contains(fe.Msg, "the same ") || strings.Contains(fe.Msg, "twice") {
				return problem(http.StatusConflict, fe.Msg, field)
			}
			return badField(field, "%s", fe.Msg)
		}
	}
	msg := err.Error()
	if len(fes) > 0 {
		msg = fes[0].Error()
	}
	return problem(http.StatusConflict, "the change would not compile with the config: "+msg, "")
}

// apiField maps a config path below a consumer to the API's field name:
// ".credentials.jwt[0].secret" -> "secret", ".groups[2]" -> "groups".
func apiField(rest string) string {
	if rest == "" || rest == ".name" {
		return "name"
	}
	if strings.HasPrefix(rest, ".credentials.") {
		if i := strings.LastIndexByte(rest, '.'); i >= 0 && !strings.Contains(rest[i:], "[") {
			return rest[i+1:]
		}
		return "body"
	}
	f := strings.TrimPrefix(rest, ".")
	if i := strings.IndexAny(f, ".["); i >= 0 {
		f = f[:i]
	}
	return f
}

func collectFieldErrors(err error, out *[]*config.FieldError) {
	if err == nil {
		return
	}
	var fe *config.FieldError
	if errors.As(err, &fe) && err == error(fe) {
		*out = append(*out, fe)
		return
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			collectFieldErrors(x, out)
		}
	case interface{ Unwrap() error }:
		collectFieldErrors(e.Unwrap(), out)
	}
}
