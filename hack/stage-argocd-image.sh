#!/usr/bin/env bash
# Lays out the build context of the Argo CD sidecar image
# (examples/argocd/Dockerfile) from three static binaries:
#
#   hack/stage-argocd-image.sh <context dir> <rqlite-fn> <kustomize> <busybox>
#
# The context is the image's filesystem in miniature, so the Dockerfile only
# COPYs and the build runs nothing (no RUN: it pulls nothing, needs no
# emulator to build for another architecture, and is the same under the
# legacy builder and BuildKit):
#
#   bin/busybox                  Debian's busybox-static
#   bin/sh, bin/grep -> busybox  the only applets plugin.yaml runs
#   usr/local/bin/kustomize      kustomize v5.8.2 built with CGO_ENABLED=0
#   usr/local/bin/rqlite-fn      `make build`
#
# `make argocd-image` runs this and then docker build; so do the e2e tests.
set -euo pipefail

die() {
	echo "stage-argocd-image: error: $*" >&2
	exit 1
}

[[ $# -eq 4 ]] || die "usage: $0 <context dir> <rqlite-fn> <kustomize> <busybox>"
ctx=$1
shift

# The image is FROM scratch: a binary that needs a dynamic loader or libc
# would only fail when Argo CD runs the plugin. glibc's ldd exits non-zero
# for a static executable ("not a dynamic executable").
for f in "$@"; do
	[[ -f "$f" && -x "$f" ]] || die "$f: not an executable file (make build; make tools)"
	if ldd "$f" >/dev/null 2>&1; then
		die "$f is dynamically linked; the sidecar image has no libc (build it with CGO_ENABLED=0; busybox must come from Debian's busybox-static)"
	fi
done

rm -rf "$ctx"
mkdir -p "$ctx/bin" "$ctx/usr/local/bin"
# install(1) copies through symlinks (.tools/bin links into the cache) and
# sets modes the image's user 999 can execute.
install -m 0755 "$3" "$ctx/bin/busybox"
ln -s busybox "$ctx/bin/sh"
ln -s busybox "$ctx/bin/grep"
install -m 0755 "$1" "$ctx/usr/local/bin/rqlite-fn"
install -m 0755 "$2" "$ctx/usr/local/bin/kustomize"
