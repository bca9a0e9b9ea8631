//go:build tools

// Package tools pins rqlited for hack/install-tools.sh. The build tag keeps
// this file out of every real build; it exists so `go mod tidy` records the
// full dependency graph of cmd/rqlited in this module's go.sum.
package tools

import _ "github.com/rqlite/rqlite/v8/cmd/rqlited"
