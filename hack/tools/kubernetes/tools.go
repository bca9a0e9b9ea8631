//go:build tools

// Package tools pins kube-apiserver and kube-controller-manager for
// hack/install-tools.sh. The build tag keeps this file out of every real
// build; it exists so `go mod tidy` records the full dependency graph of both
// commands in this module's go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
