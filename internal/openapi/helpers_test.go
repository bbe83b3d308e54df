package openapi

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// testSpec has GET /orders/{id} (integer id, required query "fields") and
// POST /orders (JSON body), behind an API key the validator must ignore.
const testSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
servers:
  - url: https://api.example.com/base
security:
  - key: []
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
paths:
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: fields, in: query, required: true, schema: {type: string, enum: [all, summary]}}
      responses:
        "200": {description: ok}
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              additionalProperties: false
              properties:
                item: {type: string, maxLength: 20}
                qty: {type: integer, minimum: 1}
      responses:
        "201": {description: created}
`

// writeSpec writes src to a temp file and returns its path.
func writeSpec(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// compileWith compiles an "openapi" policy mapping with the given State.
func compileWith(t testing.TB, state *pipeline.SharedValues, src string) (any, error) {
	t.Helper()
	env := pipelinetest.Env("t.yaml", nil)
	env.State = state // as given, nil included
	return pipelinetest.Kind(t, "openapi", "t.yaml", src, env)
}

func mustPolicy(t testing.TB, src string) *policy {
	t.Helper()
	v, err := compileWith(t, pipeline.NewSharedValues(), src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return v.(*policy)
}

// newCtx builds a request context as the gateway would (c.Path is the
// canonical path).
func newCtx(method, target, body string) *pipeline.Context {
	var r *http.Request
	if body == "" {
		r, _ = http.NewRequest(method, "http://gw"+target, http.NoBody)
	} else {
		r, _ = http.NewRequest(method, "http://gw"+target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	return &pipeline.Context{Request: r, RequestID: "rid", Path: r.URL.Path}
}
