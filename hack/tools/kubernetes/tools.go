//go:build tools

// Package tools pins the Kubernetes commands hack/install-tools.sh builds:
// the control plane (kube-apiserver, kube-controller-manager, kube-scheduler)
// and the node (kubelet, kube-proxy) of the tests' real single-node cluster.
// The build tag keeps this file out of every real build; it exists so
// `go mod tidy` records the full dependency graph of every command in this
// module's go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
