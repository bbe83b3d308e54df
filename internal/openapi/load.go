// Package openapi holds the "openapi" policy kind: optional validation of
// requests (path, method, parameters and JSON bodies) against an OpenAPI 3
// document, using github.com/getkin/kin-openapi. The document is loaded
// and validated once at compile time and cached across reloads; a request
// that does not match it is refused with a generic 400 that never echoes
// the input or reveals which paths exist.
package openapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// loaded is a validated document and the router built from it. Both are
// read-only after load and shared by every policy naming the same file.
type loaded struct {
	doc    *openapi3.T
	router routers.Router
}

// stateKey names a document in the long-lived State values: the absolute path
// plus size and mtime, so a reload of an unchanged file reuses the parsed
// router and a changed file is parsed afresh.
func stateKey(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("openapi spec %q: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("openapi spec %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("openapi spec %q: not a regular file", path)
	}
	return "openapi:" + abs + "|" + strconv.FormatInt(fi.Size(), 10) + "|" +
		strconv.FormatInt(fi.ModTime().UnixNano(), 10), nil
}

// loadCached returns the document at path, from env.State when the same
// file (same size and mtime) was loaded before.
func loadCached(env pipeline.CompileEnv, path string) (*loaded, error) {
	if env.State == nil {
		return loadFile(path)
	}
	key, err := stateKey(path)
	if err != nil {
		return nil, err
	}
	v, err := env.State.Get(key, func() (any, error) { return loadFile(path) })
	if err != nil {
		return nil, err
	}
	return v.(*loaded), nil
}

// maxSpecSize bounds the document read at load time.
const maxSpecSize = 16 << 20

// loadFile reads, parses and validates an OpenAPI 3 document. External
// $refs (other files, URLs) are refused: the gateway never fetches
// anything the document names.
func loadFile(path string) (*loaded, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("openapi spec %q: %w", path, err)
	}
	if fi.Size() > maxSpecSize {
		return nil, fmt.Errorf("openapi spec %q: larger than %d bytes", path, maxSpecSize)
	}
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the spec file
	if err != nil {
		return nil, fmt.Errorf("openapi spec %q: %w", path, err)
	}
	l, err := loadData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi spec %q: %w", path, err)
	}
	return l, nil
}

// loadData parses and validates a document and builds its router.
func loadData(data []byte) (*loaded, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("cannot load document: %w", err)
	}
	if doc.OpenAPI == "" {
		return nil, fmt.Errorf("not an OpenAPI 3 document (no openapi field)")
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	// The gateway matches the route's canonical path (minus strip_prefix)
	// against the document's paths; servers (hosts, base paths) play no
	// part, so the router must not try to match them.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("cannot build router: %w", err)
	}
	return &loaded{doc: doc, router: r}, nil
}
