// Package schema holds the published schemas of RqliteSpec, generated from the Go types by
// fn/schema (`go generate ./fn/schema`) and embedded so `rqlite-fn schema` prints exactly the
// committed files.
package schema

import _ "embed"

// JSON is rqlitespec.schema.json, a JSON Schema (draft 2020-12) for editors and CI.
//
//go:embed rqlitespec.schema.json
var JSON []byte

// OpenAPI is rqlitespec.openapi.yaml, an OpenAPI v3 structural schema for a CRD's openAPIV3Schema.
//
//go:embed rqlitespec.openapi.yaml
var OpenAPI []byte
