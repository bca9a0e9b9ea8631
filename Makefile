# Every target a newcomer needs. `make test` is what CI runs (.ci/run) and what the README names.
SHELL := /bin/bash
GO ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(CURDIR)/bin:$(TOOLS_BIN):$(PATH)
export RQLITE_KRM_TOOLS_BIN := $(TOOLS_BIN)
VERSION ?= v0.1.0
# The function image: what the README, the specs' container form and the shrink Job name.
IMAGE ?= ghcr.io/rqlite/rqlite-krm:$(VERSION)
# The Argo CD plugin sidecar image (examples/argocd/Dockerfile).
ARGOCD_IMAGE ?= ghcr.io/rqlite/rqlite-krm-argocd-cmp:$(VERSION)
DOCKER ?= docker
LDFLAGS := -s -w -X github.com/rqlite/rqlite-krm/fn/cli.Version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: all build image argocd-image tools demo test unit lint fuzz golden bench helm-reference clean

all: build

## build: the static function binary bin/rqlite-fn (same flags as the container image)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(LDFLAGS)" -o bin/rqlite-fn ./fn

## image: the function image $(IMAGE) in the local Docker engine, from bin/rqlite-fn; pulls nothing.
## A release runs `make image VERSION=vX.Y.Z` and then `docker push ghcr.io/rqlite/rqlite-krm:vX.Y.Z`.
image: build
	@# A umask of 077 would leave the binary unreadable to the image's users.
	chmod 0755 bin/rqlite-fn
	$(DOCKER) build --build-arg VERSION=$(VERSION) -t $(IMAGE) .
	@$(DOCKER) image inspect --format '$(IMAGE): {{.Id}}, {{.Size}} bytes, user {{.Config.User}}, entrypoint {{json .Config.Entrypoint}}' $(IMAGE)

## tools: install the pinned test tools (kustomize, kpt, rqlited, kube-apiserver, etcd, …), cached
tools:
	bash hack/install-tools.sh

## argocd-image: the Argo CD plugin sidecar image ARGOCD_IMAGE, FROM scratch, pulling nothing:
## bin/rqlite-fn, the pinned static kustomize and Debian's busybox-static staged into dist/argocd-image
argocd-image: build
	bash hack/install-tools.sh kustomize busybox >/dev/null
	bash hack/stage-argocd-image.sh dist/argocd-image bin/rqlite-fn $(TOOLS_BIN)/kustomize $(TOOLS_BIN)/busybox
	$(DOCKER) build -f examples/argocd/Dockerfile --build-arg VERSION=$(VERSION) -t $(ARGOCD_IMAGE) dist/argocd-image

## demo: render a 3-voter cluster with a read-only pool from examples/rqlite.yaml
demo: build
	@mkdir -p dist
	bin/rqlite-fn render examples/rqlite.yaml | tee dist/demo.yaml
	@echo "# wrote dist/demo.yaml ($$(grep -c '^kind:' dist/demo.yaml) objects); apply with: kubectl apply -f dist/demo.yaml" >&2

## test: everything CI runs: tools, lint, every test (unit, real kustomize/kpt, control plane, rqlited), a short fuzz
test: tools build lint
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

## unit: the fast tests that need no external tool
unit:
	$(GO) test ./fn/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags bench ./bench/...
	staticcheck ./...
	staticcheck -tags bench ./bench/...

## fuzz: each fuzz target for FUZZTIME (go test runs one target per call): the whole pipeline,
## the decoder on duplicate keys and aliases, the YAML writer against go-yaml's readers
fuzz:
	$(GO) test ./fn/generate -run '^$$' -fuzz '^FuzzFromYAML$$' -fuzztime $(FUZZTIME)
	$(GO) test ./fn/api/v1alpha1 -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./fn/render -run '^$$' -fuzz '^FuzzYAMLWriter$$' -fuzztime $(FUZZTIME)

## helm-reference: compare internal/helmchart's facts about the Helm chart 2.0.0 with real
## `helm template` renders in HELM_REFERENCE (README, Testing); not part of `make test`
helm-reference:
	@if [ -z "$(HELM_REFERENCE)" ]; then echo "usage: make helm-reference HELM_REFERENCE=/path/to/renders" >&2; exit 2; fi
	$(GO) run ./internal/helmchart/cmd/helm-reference "$(HELM_REFERENCE)"

## golden: rewrite the golden files under testdata/ (review the diff before committing)
golden: build
	$(GO) test ./fn/generate ./fn/plan ./fn/schema ./fn/cli ./e2e/kustomize -run Golden -update

## bench: build the release binary and print the benchmark table (docs/benchmarks.md)
bench: build
	bash bench/run.sh

clean:
	rm -rf bin dist
