# Every target a newcomer needs; `make test` is what CI runs (see .ci/run).
SHELL := /bin/bash
GO ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: build tools test unit demo lint fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/rqlite-fn ./fn

tools:
	bash hack/install-tools.sh

clean:
	rm -rf bin
