//go:build tools

// Package tools pins kpt for hack/install-tools.sh, which builds it only when
// no kpt 1.0.0-beta.54..59 is on PATH. The build tag keeps this file out of
// every real build; it exists so `go mod tidy` records kpt's dependency graph
// in this module's go.sum.
package tools

import _ "github.com/GoogleContainerTools/kpt"
