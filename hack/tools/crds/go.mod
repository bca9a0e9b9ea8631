// Pins the projects whose CustomResourceDefinitions the tests install (internal/crds): their
// module zips, verified against go.sum, hold the CRD files those projects publish. Nothing here
// is built or imported; internal/crds runs `go mod download -json <module>` in this directory.
// Do not run `go mod tidy` here: with no Go file importing them it would drop both requirements.
// Bump a version only after probing it (`go list -m <module>@<version>`), then
// `GOFLAGS=-mod=mod go mod download <module>` to record its hashes.
module github.com/rqlite/rqlite-krm/hack/tools/crds

go 1.26.8

require (
	github.com/cert-manager/cert-manager v1.21.2
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
