package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// Config history: the configurations that went live, a diff between two,
// a dry run of a candidate and a rollback. The rules:
//
//   - What is shown is the redacted rendering: secret values (and digests
//     of secrets) are replaced, secret references are kept.
//   - A rollback is compiled and checked exactly like a reload (the
//     gateway's Candidate and Rollback share the reload's compile), so a
//     kept version that no longer compiles (a file it references is gone,
//     a listener changed) is refused and nothing changes.
//   - A dry run applies nothing: no store write, no file write, no swap.

// History is what the config history needs from the running gateway.
type History interface {
	// ReloadBy reloads the config file on behalf of an admin; the new
	// config is recorded before it goes live.
	ReloadBy(ctx context.Context, actor store.Actor) error
	// Candidate parses and compiles data as the config file would be on a
	// reload, applying nothing.
	Candidate(data []byte) (*config.Config, error)
	// Rollback makes a kept version live and writes it to the config file.
	// A *CandidateError says the version does not compile now.
	Rollback(ctx context.Context, actor store.Actor, v *store.ConfigVersion) error
}

// CandidateError is a config that did not load or compile.
type CandidateError struct{ Err error }

func (e *CandidateError) Error() string { return e.Err.Error() }
func (e *CandidateError) Unwrap() error { return e.Err }

// ConfigVersionView is a version as the API lists it.
type ConfigVersionView struct {
	Version    int64  `json:"version"`
	SHA256     string `json:"sha256"`
	Author     string `json:"author"`
	Source     string `json:"source"`
	Node       string `json:"node"`
	CreatedAt  string `json:"created_at"`
	Restorable bool   `json:"restorable"`
	Live       bool   `json:"live"`
	// YAML is the redacted file, in the answer for one version only.
	YAML string `json:"yaml,omitempty"`
}

func (s *Server) versionView(v store.ConfigVersion) ConfigVersionView {
	author := v.AuthorKind + ":" + v.AuthorName
	if v.AuthorKind == "file" {
		author = "file"
	}
	live := false
	if f := s.rt.FileConfig(); f != nil {
		live = f.SHA256 == v.SHA256
	}
	return ConfigVersionView{Version: v.Version, SHA256: v.SHA256, Author: author, Source: v.Source, Node: v.Node,
		CreatedAt: v.CreatedAt.Format(timeFormat), Restorable: v.Restorable, Live: live}
}

// ConfigVersionList is a page of versions, newest first; Next is the
// "after" of the next page.
type ConfigVersionList struct {
	Items []ConfigVersionView `json:"items"`
	Next  string              `json:"next,omitempty"`
}

func (s *Server) listConfigVersions(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	var before int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 1 {
			return 0, badField("query.after", "after must be a version number")
		}
		before = n
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	vs, err := s.st.ConfigVersions(ctx, before, limit+1)
	if err != nil {
		return 0, s.storeProblem(err)
	}
	out := ConfigVersionList{Items: []ConfigVersionView{}}
	for i, v := range vs {
		if i == limit {
			out.Next = strconv.FormatInt(out.Items[len(out.Items)-1].Version, 10)
			break
		}
		out.Items = append(out.Items, s.versionView(v))
	}
	return http.StatusOK, out
}

// version reads the version named by path.version (its bytes opened).
func (s *Server) version(q *request, raw string, field string) (*store.ConfigVersion, *Problem) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 {
		return nil, badField(field, "a version is a positive number")
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	v, err := s.st.GetConfigVersion(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem(http.StatusNotFound, "no such config version", field)
	}
	if err != nil {
		s.log.Error("admin: config version could not be read", "version", n, "error", err)
		return nil, problem(http.StatusConflict, "the config version could not be read (see the gateway log)", field)
	}
	return v, nil
}

func (s *Server) getConfigVersion(q *request) (int, any) {
	v, p := s.version(q, q.r.PathValue("version"), "path.version")
	if p != nil {
		return 0, p
	}
	view := s.versionView(*v)
	view.YAML = v.Redacted
	return http.StatusOK, view
}

// ConfigDiffView is the difference between two versions.
type ConfigDiffView struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Unified is a unified diff of the redacted files ("" when equal).
	Unified string `json:"unified"`
}

func (s *Server) diffConfigVersions(q *request) (int, any) {
	q.queryNames = []string{"from", "to"}
	if _, _, p := q.page(); p != nil {
		return 0, p
	}
	qs := q.r.URL.Query()
	if qs.Get("from") == "" || qs.Get("to") == "" {
		return 0, badField("query.from", "from and to name the two versions")
	}
	a, p := s.version(q, qs.Get("from"), "query.from")
	if p != nil {
		return 0, p
	}
	b, p := s.version(q, qs.Get("to"), "query.to")
	if p != nil {
		return 0, p
	}
	d := udiff.Unified(fmt.Sprintf("v%d", a.Version), fmt.Sprintf("v%d", b.Version), a.Redacted, b.Redacted)
	return http.StatusOK, ConfigDiffView{From: a.Version, To: b.Version, Unified: d}
}

// Changes lists what differs by name.
type Changes struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// ConfigChange is what a candidate config would change against the live
// one.
type ConfigChange struct {
	SHA256    string   `json:"sha256"`
	Applied   bool     `json:"applied"`
	Routes    Changes  `json:"routes"`
	Services  Changes  `json:"services"`
	Policies  Changes  `json:"policies"`
	Consumers Changes  `json:"consumers"`
	Settings  []string `json:"settings"`
}

// diffConfigs compares two configs by name: routes (their policies apart),
// services, policies (as route/kind, numbered when a kind repeats),
// consumers of the file, and the other top-level sections.
func diffConfigs(old, cur *config.Config) ConfigChange {
	c := ConfigChange{SHA256: cur.SHA256, Settings: []string{}}
	stripPolicies := func(r config.Route) config.Route { r.Policies = nil; return r }
	c.Routes = byName(old.Routes, cur.Routes, func(r config.Route) string { return r.Name }, func(a, b config.Route) bool {
		return reflect.DeepEqual(stripPolicies(a), stripPolicies(b))
	})
	c.Services = byName(old.Services, cur.Services, func(s config.Service) string { return s.Name }, func(a, b config.Service) bool { return reflect.DeepEqual(a, b) })
	c.Consumers = byName(old.Consumers, cur.Consumers, func(s config.Consumer) string { return s.Name }, func(a, b config.Consumer) bool { return reflect.DeepEqual(a, b) })
	c.Policies = byName(policiesOf(old), policiesOf(cur), func(p namedPolicy) string { return p.name }, func(a, b namedPolicy) bool { return reflect.DeepEqual(a.spec, b.spec) })
	ov, nv := reflect.ValueOf(*old), reflect.ValueOf(*cur)
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		switch tag {
		case "routes", "services", "consumers":
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			c.Settings = append(c.Settings, tag)
		}
	}
	return c
}

type namedPolicy struct {
	name string
	spec config.PolicySpec
}

func policiesOf(c *config.Config) []namedPolicy {
	var out []namedPolicy
	for _, r := range c.Routes {
		seen := map[string]int{}
		for _, p := range r.Policies {
			seen[p.Kind]++
			name := r.Name + "/" + p.Kind
			if n := seen[p.Kind]; n > 1 {
				name += "#" + strconv.Itoa(n)
			}
			out = append(out, namedPolicy{name: name, spec: p})
		}
	}
	return out
}

func byName[T any](old, cur []T, name func(T) string, same func(a, b T) bool) Changes {
	ch := Changes{Added: []string{}, Removed: []string{}, Changed: []string{}}
	om := map[string]T{}
	for _, x := range old {
		om[name(x)] = x
	}
	nm := map[string]bool{}
	for _, x := range cur {
		n := name(x)
		nm[n] = true
		o, ok := om[n]
		switch {
		case !ok:
			ch.Added = append(ch.Added, n)
		case !same(o, x):
			ch.Changed = append(ch.Changed, n)
		}
	}
	for _, x := range old {
		if !nm[name(x)] {
			ch.Removed = append(ch.Removed, name(x))
		}
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Removed)
	sort.Strings(ch.Changed)
	return ch
}

// maxConfigBody bounds a dry run's config text.
const maxConfigBody = 4 << 20

type dryRunInput struct {
	YAML *string `json:"yaml"`
}

// candidateProblemOf answers a config that does not load or compile.
func candidateConfigProblem(err error) *Problem {
	return problem(http.StatusUnprocessableEntity, "the config does not load or compile; nothing was changed: "+err.Error(), "")
}

func (s *Server) dryRun(q *request) (int, any) {
	var in dryRunInput
	if p := q.decodeLimit(&in, maxConfigBody); p != nil {
		return 0, p
	}
	if in.YAML == nil || strings.TrimSpace(*in.YAML) == "" {
		return 0, badField("yaml", "yaml is the candidate config file's text")
	}
	cand, err := s.rt.Candidate([]byte(*in.YAML))
	if err != nil {
		return 0, candidateConfigProblem(err)
	}
	return http.StatusOK, diffConfigs(s.rt.FileConfig(), cand)
}

func (s *Server) rollback(q *request) (int, any) {
	q.queryNames = []string{"dry_run"}
	if _, _, p := q.page(); p != nil {
		return 0, p
	}
	dry := false
	switch q.r.URL.Query().Get("dry_run") {
	case "", "false":
	case "true":
		dry = true
	default:
		return 0, badField("query.dry_run", "dry_run must be true or false")
	}
	v, p := s.version(q, q.r.PathValue("version"), "path.version")
	if p != nil {
		return 0, p
	}
	if !v.Restorable {
		return 0, problem(http.StatusConflict, "this version's file was not kept (the store had no master key when it went live): it cannot be rolled back to", "path.version")
	}
	old := s.rt.FileConfig()
	cand, err := s.rt.Candidate(v.Raw)
	if err != nil {
		return 0, candidateConfigProblem(err)
	}
	change := diffConfigs(old, cand)
	if dry {
		return http.StatusOK, change
	}
	if err := s.rt.StoreError(); err != nil {
		return 0, unavailable()
	}
	if err := s.rt.Rollback(q.r.Context(), q.who.actor(), v); err != nil {
		var ce *CandidateError
		if errors.As(err, &ce) {
			return 0, candidateConfigProblem(ce.Err)
		}
		s.log.Error("admin: rollback failed; nothing was changed", "version", v.Version, "error", err)
		return 0, problem(http.StatusConflict, "the rollback failed and changed nothing: "+err.Error(), "")
	}
	change.Applied = true
	return http.StatusOK, change
}
