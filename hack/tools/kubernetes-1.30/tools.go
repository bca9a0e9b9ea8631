//go:build tools

// Package tools pins the kube-apiserver of the oldest Kubernetes minor the
// renders support (1.30: the first with the native `sleep` preStop action on by
// default) for hack/install-tools.sh. The build tag keeps this file out of
// every real build; it exists so `go mod tidy` records the command's full
// dependency graph in this module's go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
