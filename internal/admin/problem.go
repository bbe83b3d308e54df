package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/store"
)

// Problem is an RFC 9457 answer. Field names the input at fault, with
// the body's JSON names (or "query.limit", "header.If-Match", "path.name").
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	header http.Header
}

func (p *Problem) Error() string { return p.Detail }

func problem(status int, detail, field string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Field: field}
}

func badField(field, format string, args ...any) *Problem {
	return problem(http.StatusBadRequest, fmt.Sprintf(format, args...), field)
}

func unauthorized(detail string) *Problem {
	p := problem(http.StatusUnauthorized, detail, "")
	p.header = http.Header{"Www-Authenticate": {`Bearer realm="portcullis-admin"`}}
	return p
}

func unavailable() *Problem {
	p := problem(http.StatusServiceUnavailable, "the store is unavailable: changes are refused until it is back (traffic is still served)", "")
	p.header = http.Header{"Retry-After": {"5"}}
	return p
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	for k, v := range p.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	b, _ := json.Marshal(p)
	_, _ = w.Write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeProblem(w, problem(http.StatusInternalServerError, "the answer could not be encoded", ""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// storeProblem maps a store error to an answer. Errors that are not the
// store's own conditions mean the store is unreachable or failing: 503,
// logged, never a 500 with the database's text.
func (s *Server) storeProblem(err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		return problem(http.StatusNotFound, "no such resource", "")
	case errors.Is(err, store.ErrExists):
		return problem(http.StatusConflict, "a resource with the same identity or the same unique value already exists", "")
	case errors.Is(err, store.ErrVersion):
		return problem(http.StatusPreconditionFailed, "the resource changed since the version in If-Match: read it again", "header.If-Match")
	case errors.Is(err, store.ErrNoMasterKey):
		return problem(http.StatusConflict, "the store has no master key (admin.store.master_key): secrets cannot be stored", "")
	case errors.Is(err, store.ErrNotEmpty):
		return problem(http.StatusConflict, err.Error(), "")
	}
	s.log.Error("admin: store write failed", "error", err)
	return unavailable()
}

// maxBody bounds every request body.
const maxBody = 64 << 10

// decode reads the body into v strictly: one JSON object, no unknown
// field, every type right, at most maxBody bytes. The problem names the
// field at fault.
func (q *request) decode(v any) *Problem { return q.decodeLimit(v, maxBody) }

// decodeLimit is decode with another bound (a config file's text).
func (q *request) decodeLimit(v any, maxBody int) *Problem {
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return badField("header.Content-Type", "the body must be application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, int64(maxBody)+1))
	if err != nil {
		return badField("body", "the body could not be read")
	}
	if len(body) > maxBody {
		return badField("body", "the body is larger than %d KiB", maxBody>>10)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badField("body", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badField("body", "the body must hold exactly one JSON object")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return badField("body", "the body must hold exactly one JSON object")
	}
	return nil
}

// jsonProblem names the field of a decoding error.
func jsonProblem(err error) *Problem {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badField("body", "the body must be a JSON object")
		}
		return badField(field, "%s must be %s", field, jsonKind(te.Type.Kind().String()))
	case errors.As(err, &se):
		return badField("body", "the body is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("body", "the body is cut short")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return badField(f, "unknown field %q", f)
	}
	return badField("body", "the body is not a valid JSON object")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint64", "uint32", "float64":
		return "a number"
	}
	return "of another type"
}

// etag is a resource version's entity tag.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch reads If-Match: 0 when absent or "*", else the version it names.
func (q *request) ifMatch() (int64, *Problem) {
	h := strings.TrimSpace(q.r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	h = strings.TrimPrefix(h, "W/")
	if len(h) < 3 || h[0] != '"' || h[len(h)-1] != '"' {
		return 0, badField("header.If-Match", `If-Match must be an entity tag such as "3"`)
	}
	v, err := strconv.ParseInt(h[1:len(h)-1], 10, 64)
	if err != nil || v < 1 {
		return 0, badField("header.If-Match", "If-Match names no version this API issued")
	}
	return v, nil
}

// page reads limit and after.
func (q *request) page() (limit int, after string, p *Problem) {
	limit = 100
	qs := q.r.URL.Query()
	for k := range qs {
		if !q.allowedQuery(k) {
			return 0, "", badField("query."+k, "unknown query parameter %q", k)
		}
	}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, "", badField("query.limit", "limit must be a number from 1 to 1000")
		}
		limit = n
	}
	return limit, qs.Get("after"), nil
}

// allowedQuery is set per endpoint (see list handlers).
func (q *request) allowedQuery(k string) bool {
	switch k {
	case "limit", "after":
		return true
	}
	for _, a := range q.queryNames {
		if a == k {
			return true
		}
	}
	return false
}

// List is a page of a collection. Next, when set, is the value of
// "after" that reads the next page.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// paginate cuts a sorted list after the cursor.
func paginate[T any](items []T, key func(T) string, limit int, after string) List[T] {
	out := List[T]{Items: []T{}}
	for _, it := range items {
		if after != "" && key(it) <= after {
			continue
		}
		if len(out.Items) == limit {
			out.Next = key(out.Items[len(out.Items)-1])
			break
		}
		out.Items = append(out.Items, it)
	}
	return out
}
