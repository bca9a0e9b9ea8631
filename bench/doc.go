// Package bench holds rqlite-fn's benchmarks: the pipeline for one spec, whole ResourceLists
// through the binary's KRM code path, and (build tag bench, run by bench/run.sh) the release
// binary as a process, kustomize builds with and without the function, and allocation budgets.
// The package has no code of its own; the benchmarks live in its test files so that `go test
// ./...` compiles them and `go test -bench . -benchmem ./bench/` runs the in-process ones.
package bench
