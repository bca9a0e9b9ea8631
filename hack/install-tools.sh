#!/usr/bin/env bash
# Installs the pinned tools that tests, demos and CI need, and links them into
# <repo>/.tools/bin so that `PATH=.tools/bin:$PATH` (the Makefile does this)
# finds them.
#
#   hack/install-tools.sh                      # every tool
#   hack/install-tools.sh rqlited kustomize    # just these
#
# Built binaries live outside the repo, in
#   ${RQLITE_KRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rqlite-krm}/tools/<tool>-<version>/<binary>
# so that worktrees, clones and `git clean -fdx` don't pay the ≈10 minute cold
# build again; a directory there only appears (atomic rename) once its build
# has succeeded, so its presence alone means "usable".
#
# Environment:
#   RQLITE_KRM_CACHE        cache root (see above)
#   RQLITE_KRM_BUILD_KPT=1  build kpt from source even if a suitable kpt is on PATH
#
# The cache key is the version alone: after changing hack/tools/<tool>/go.mod
# (a replace, say) bump the version below too, or the old binary is reused.
# The Argo CD tools are the exception: their key is the version plus a hash of
# their module (go.mod, go.sum, the package's sources) and of the build
# function, because hack/tools/argocd also holds our own code (cmpclient),
# which changes without any version to bump.

# Build steps are called indirectly (cached_build runs "$@", cleanup runs from
# a trap), which shellcheck 0.9 reports as unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

# Pins. Every one of these was checked to resolve through proxy.golang.org;
# the proxy refuses some newer versions (see shared/README.md), so bump them
# only after probing the exact version with `go list -m <module>@<version>`.
KUSTOMIZE_VERSION=v5.8.2
KPT_VERSION=v1.0.0-beta.54 # source build only; any kpt 1.0.0-beta.54..59 on PATH is accepted
RQLITE_VERSION=v8.43.4     # also pinned in hack/tools/rqlited/go.mod
KUBERNETES_VERSION=v1.37.1 # also pinned in hack/tools/kubernetes/go.mod
# The oldest supported Kubernetes minor (the README's minimum): renders are
# also dry-run applied to this kube-apiserver. 1.30.14 is 1.30's last patch.
KUBERNETES_OLDEST_VERSION=v1.30.14 # also pinned in hack/tools/kubernetes-1.30/go.mod
# Argo CD's Config Management Plugin server, and cmpclient (our repo-server
# stand-in built from argo-cd's client code); v3.6.x needs Go 1.27.
ARGOCD_VERSION=v3.5.8 # also pinned in hack/tools/argocd/go.mod
# Debian's busybox-static gives the Argo CD sidecar image (FROM scratch) its sh
# and grep. apt installs bookworm's current build; the upstream version is
# checked, the Debian revision follows the mirror.
BUSYBOX_VERSION=1.35.0
# The tests' real node (internal/testenv's Node): containerd built from its
# module (Debian's 1.6.20 is older than what a v1.37 kubelet supports),
# CoreDNS for cluster DNS, and Debian's runc and CNI plugins.
CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
RUNC_VERSION=1.1.5
CNI_PLUGINS_VERSION=1.1.1
KUBE_SCORE_VERSION=v1.20.0
STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools, the first release that understands Go 1.26
# x/perf has no release tags; this is master of 2026-05-12 (the proxy
# refuses the 2026-06-10 commit).
BENCHSTAT_VERSION=v0.0.0-20260512194132-3cf34090a3db

ALL_TOOLS=(rqlited kustomize kpt kube-apiserver kube-controller-manager kube-apiserver-1.30 etcd kube-score benchstat staticcheck
	argocd-cmp-server argocd-cmpclient busybox
	kube-scheduler kubelet kube-proxy containerd coredns rqlited-static pause runc cni-plugins)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOLS_SRC="$REPO_ROOT/hack/tools"
BIN_DIR="$REPO_ROOT/.tools/bin"
CACHE_ROOT="${RQLITE_KRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rqlite-krm}"
TOOLS_CACHE="$CACHE_ROOT/tools"

die() {
	echo "install-tools: error: $*" >&2
	exit 1
}
note() { echo "install-tools: $*" >&2; }
# The only thing on stdout: one line per tool, so callers can parse it.
report() { printf '%s %s %s (%s)\n' "$1" "$2" "$3" "$4"; }

usage() {
	cat >&2 <<EOF
usage: $0 [tool ...]
tools: ${ALL_TOOLS[*]} (kubernetes = kube-apiserver kube-controller-manager,
       argocd = argocd-cmp-server argocd-cmpclient busybox,
       node = kube-scheduler kubelet kube-proxy containerd coredns rqlited-static pause runc cni-plugins busybox)
cache: $TOOLS_CACHE
EOF
}

# A build that is interrupted must not leave a half-written directory behind
# where a later run would mistake it for a finished one; the temp dir is only
# renamed into place after the build succeeded, and is removed on any exit.
CURRENT_TMP=""
cleanup() {
	if [[ -n "$CURRENT_TMP" ]]; then rm -rf "$CURRENT_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

go_env() {
	# A go.work above the repo, or -mod=… in the caller's GOFLAGS (people use
	# GOFLAGS=-mod=mod for the root module), would change what gets built or
	# make `go install pkg@version` refuse to run; the tools modules carry
	# complete go.sum files, so -mod=readonly is always right for them.
	local flags="${GOFLAGS:-}"
	flags="$(sed -E 's/(^| )-mod=[^ ]*//g' <<<"$flags")"
	env GOWORK=off GOFLAGS="$flags" "$@"
}

link_tool() { # link_tool <target> <name>
	mkdir -p "$BIN_DIR"
	# ln -sf is unlink+symlink, which briefly leaves no file; a concurrent test
	# run looking the tool up would then fail. rename(2) over it instead.
	local tmp="$BIN_DIR/.$2.$$"
	ln -sfn "$1" "$tmp"
	mv -Tf "$tmp" "$BIN_DIR/$2"
}

# cached_build <tool> <version> <binary> <build-fn> [args…]
# Runs "<build-fn> [args…] <outdir>" unless the cache already has the binary.
# The build function must leave <outdir>/<binary>.
cached_build() {
	local tool=$1 version=$2 binary=$3
	shift 3
	local dir="$TOOLS_CACHE/$tool-$version"
	local status=cached
	if [[ ! -x "$dir/$binary" ]]; then
		mkdir -p "$TOOLS_CACHE/logs"
		command -v flock >/dev/null || die "flock not found (Debian: apt-get install util-linux)"
		local lock_fd
		# One lock per tool and version: a second concurrent run waits for
		# the build it needs instead of starting the same build again, and
		# unrelated tools don't serialise behind each other.
		exec {lock_fd}>"$TOOLS_CACHE/.$tool-$version.lock"
		if ! flock -n "$lock_fd"; then
			note "waiting for another install of $tool $version to finish"
			flock "$lock_fd"
		fi
		if [[ ! -x "$dir/$binary" ]]; then
			# Under the lock any leftover temp dir belongs to a killed run.
			rm -rf "$TOOLS_CACHE/.tmp-$tool-$version".*
			local log="$TOOLS_CACHE/logs/$tool-$version.log"
			CURRENT_TMP="$(mktemp -d "$TOOLS_CACHE/.tmp-$tool-$version.XXXXXX")"
			local start=$SECONDS
			note "building $tool $version (log: $log)"
			if ! "$@" "$CURRENT_TMP" >"$log" 2>&1; then
				tail -n 40 "$log" >&2 || true
				die "building $tool $version failed; full log: $log"
			fi
			[[ -x "$CURRENT_TMP/$binary" ]] || die "building $tool $version produced no $binary; log: $log"
			chmod 0755 "$CURRENT_TMP"
			mv -T "$CURRENT_TMP" "$dir"
			CURRENT_TMP=""
			status="built in $((SECONDS - start))s"
		fi
		exec {lock_fd}>&-
	fi
	link_tool "$dir/$binary" "$binary"
	report "$tool" "$version" "$dir/$binary" "$status"
}

# --- build functions: last argument is the output directory ----------------

build_go_install() { # build_go_install <pkg@version> <ldflags> <outdir>
	# Run from the output dir so no surrounding go.mod is consulted.
	(cd "$3" && go_env GOBIN="$3" go install -trimpath -ldflags "$2" "$1")
}

build_go_install_static() { # build_go_install_static <pkg@version> <ldflags> <outdir>
	# For binaries that are also copied into an image FROM scratch (kustomize
	# into the Argo CD sidecar): without cgo the net and os/user packages use
	# their pure Go versions and the binary needs no libc.
	CGO_ENABLED=0 build_go_install "$@"
}

build_rqlited() {
	# stdout/stderr go to the build log here, whose tail cached_build prints.
	if ! command -v "${CC:-gcc}" >/dev/null; then
		echo "rqlited needs cgo but there is no C compiler (${CC:-gcc}); Debian: apt-get install gcc libc6-dev" >&2
		return 1
	fi
	# `go install …@version` ignores replace directives, and rqlited needs
	# two (see hack/tools/rqlited/go.mod), hence a module of our own.
	(cd "$TOOLS_SRC/rqlited" && go_env CGO_ENABLED=1 go build -mod=readonly -trimpath \
		-ldflags "-X github.com/rqlite/rqlite/v8/cmd.Version=$RQLITE_VERSION" \
		-o "$1/rqlited" github.com/rqlite/rqlite/v8/cmd/rqlited)
}

build_kube() { # build_kube <cmd> <outdir>
	# Without the -X flags the binaries report v0.0.0-master, which breaks
	# clients that compare server versions.
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
	(cd "$TOOLS_SRC/kubernetes" && go_env CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags "$ldflags" -o "$2/$1" "k8s.io/kubernetes/cmd/$1")
}

build_rqlited_static() {
	# The rqlite image of the tests' real node is FROM scratch, so its rqlited
	# must need no libc: cgo stays on (SQLite), linked statically; netgo and
	# osusergo keep glibc's NSS (which cannot be linked statically) out.
	if ! command -v "${CC:-gcc}" >/dev/null; then
		echo "rqlited needs cgo but there is no C compiler (${CC:-gcc}); Debian: apt-get install gcc libc6-dev" >&2
		return 1
	fi
	(cd "$TOOLS_SRC/rqlited" && go_env CGO_ENABLED=1 go build -mod=readonly -trimpath -tags "netgo osusergo" \
		-ldflags "-s -w -linkmode external -extldflags -static -X github.com/rqlite/rqlite/v8/cmd.Version=$RQLITE_VERSION" \
		-o "$1/rqlited-static" github.com/rqlite/rqlite/v8/cmd/rqlited)
}

build_containerd() {
	# containerd, its runc shim and ctr from one module version. The shim
	# must be found on PATH by containerd: the three stay in one directory.
	# no_btrfs/no_devmapper: those snapshotters need C headers and are unused.
	local m=github.com/containerd/containerd/v2
	(cd "$1" && go_env GOBIN="$1" CGO_ENABLED=0 go install -trimpath -tags "no_btrfs no_devmapper" \
		-ldflags "-s -w -X $m/version.Version=$CONTAINERD_VERSION" \
		"$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
		"$m/cmd/ctr@$CONTAINERD_VERSION")
}

build_pause() {
	# Our own sandbox program (hack/tools/pause/pause.c), static for an image
	# FROM scratch; the cache key hashes the source.
	if ! command -v "${CC:-gcc}" >/dev/null; then
		echo "pause needs a C compiler (${CC:-gcc}); Debian: apt-get install gcc libc6-dev" >&2
		return 1
	fi
	"${CC:-gcc}" -static -Os -Wall -Wextra -Werror -o "$1/pause" "$TOOLS_SRC/pause/pause.c"
}

build_kube_apiserver_oldest() { # build_kube_apiserver_oldest <outdir>
	# Its own tools module: 1.30's staging modules cannot share a go.mod with
	# 1.37's. Linked as kube-apiserver-1.30 so it never shadows the current one.
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_OLDEST_VERSION"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_OLDEST_VERSION")"
	(cd "$TOOLS_SRC/kubernetes-1.30" && go_env CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags "$ldflags" -o "$1/kube-apiserver-1.30" k8s.io/kubernetes/cmd/kube-apiserver)
}

build_kpt() {
	# The checksum database has no entry for kpt's beta tags; go.sum in the
	# tools module is what pins its content.
	(cd "$TOOLS_SRC/kpt" && go_env GONOSUMDB=github.com/GoogleContainerTools/kpt \
		CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags "-s -w -X github.com/GoogleContainerTools/kpt/run.version=${KPT_VERSION#v}" \
		-o "$1/kpt" github.com/GoogleContainerTools/kpt)
}

# argocd_key <package dir> <build function>: the cache key of a binary built
# from hack/tools/argocd, so that editing the module, the package or the
# recipe builds anew (see the comment at the top).
argocd_key() {
	local hash
	hash="$(cd "$TOOLS_SRC/argocd" && {
		cat go.mod go.sum
		find "$1" -type f -name '*.go' | LC_ALL=C sort | xargs cat
		declare -f "$2"
	} | sha256sum | cut -c1-12)"
	printf '%s-%s' "$ARGOCD_VERSION" "$hash"
}

build_argocd_cmp_server() {
	# Static, stripped and version-stamped as Argo CD's release builds it
	# (its Makefile's CGO_FLAG=0): Argo CD copies this binary into a sidecar
	# image it knows nothing about, and ours is FROM scratch.
	local pkg=github.com/argoproj/argo-cd/v3/common
	(cd "$TOOLS_SRC/argocd" && go_env CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags "-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTag=$ARGOCD_VERSION" \
		-o "$1/argocd-cmp-server" ./argocd-cmp-server)
}

build_argocd_cmpclient() {
	(cd "$TOOLS_SRC/argocd" && go_env CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags "-s -w" -o "$1/argocd-cmpclient" ./cmpclient)
}

# --- per-tool installers ---------------------------------------------------

install_kpt() {
	if [[ "${RQLITE_KRM_BUILD_KPT:-}" != 1 ]]; then
		# Our own .tools/bin may be on PATH (the Makefile puts it first) and
		# would just point back at whatever we linked last time.
		local dir candidate v
		local -a dirs
		IFS=: read -ra dirs <<<"/usr/bin:${PATH:-}"
		for dir in "${dirs[@]}"; do
			# PATH may name it relatively (PATH=.tools/bin:$PATH), hence
			# comparing resolved paths; linking to the resolved target also
			# keeps a relative entry from producing a link to itself.
			[[ -n "$dir" && -x "$dir/kpt" ]] || continue
			[[ "$(cd "$dir" && pwd -P)" != "$BIN_DIR" ]] || continue
			candidate="$(readlink -f "$dir/kpt")"
			v="$("$candidate" version 2>/dev/null | head -n1 || true)"
			# kpt 1.0.0-beta.54 is the oldest whose fn render/eval behaviour
			# the project relies on; beta.6x is untested.
			if [[ "$v" =~ ^v?1\.0\.0-beta\.5([4-9])$ ]]; then
				link_tool "$candidate" kpt
				report kpt "$v" "$candidate" system
				return
			fi
		done
	fi
	cached_build kpt "$KPT_VERSION" kpt build_kpt
}

# apt_install <package>: installs one Debian package, as root or through
# passwordless sudo; prints how long it took.
apt_install() {
	local pkg=$1
	local -a sudo=()
	if [[ $EUID -ne 0 ]]; then
		if ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
			die "$pkg is not installed and this is not root: run 'sudo apt-get install -y $pkg', then rerun"
		fi
		sudo=(sudo -n)
	fi
	command -v apt-get >/dev/null || die "$pkg is not installed and there is no apt-get: install it (Debian bookworm's $pkg) by hand"
	local log
	mkdir -p "$TOOLS_CACHE/logs"
	log="$TOOLS_CACHE/logs/$pkg-apt.log"
	note "installing Debian package $pkg (log: $log)"
	# A fresh CI image often ships without package lists.
	if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		"${sudo[@]}" apt-get update >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed; log: $log"; }
	fi
	# Lock::Timeout: another process (unattended upgrades, a colleague's
	# run) may hold the dpkg lock for a while.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		-o DPkg::Lock::Timeout=300 "$pkg" >>"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; die "apt-get install $pkg failed; log: $log"; }
}

install_etcd() {
	local status=system
	if [[ ! -x /usr/bin/etcd ]]; then
		local start=$SECONDS
		apt_install etcd-server
		[[ -x /usr/bin/etcd ]] || die "etcd-server installed but /usr/bin/etcd is missing"
		local -a sudo=()
		[[ $EUID -eq 0 ]] || sudo=(sudo -n)
		stop_etcd_service "${sudo[@]}"
		status="apt-get installed in $((SECONDS - start))s"
	fi
	local v
	v="$(/usr/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
	[[ -n "$v" ]] || die "/usr/bin/etcd --version failed"
	link_tool /usr/bin/etcd etcd
	report etcd "$v" /usr/bin/etcd "$status"
}

# The static busybox that goes into the Argo CD sidecar image. Debian's
# `busybox` package (dynamic) would install the same path; only the -static
# one works in an image without libc, hence the check of the package name.
install_busybox() {
	local status=system bin=/bin/busybox
	if ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
		local start=$SECONDS
		apt_install busybox-static
		status="apt-get installed in $((SECONDS - start))s"
	fi
	[[ -x "$bin" ]] || die "busybox-static installed but $bin is missing"
	local v
	v="$("$bin" 2>&1 | sed -n '1s/^BusyBox v\([0-9.]*\).*/\1/p')"
	[[ "$v" == "$BUSYBOX_VERSION" ]] ||
		die "$bin is BusyBox ${v:-of unknown version}, want $BUSYBOX_VERSION (Debian bookworm's busybox-static)"
	link_tool "$bin" busybox
	report busybox "$v" "$bin" "$status"
}

# install_deb <tool> <package> <upstream version> <binary path> <version command…>:
# a Debian package whose binary the tests' node runs (runc, the CNI plugins).
install_deb() {
	local tool=$1 pkg=$2 want=$3 bin=$4 status=system
	shift 4
	if ! dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
		local start=$SECONDS
		apt_install "$pkg"
		status="apt-get installed in $((SECONDS - start))s"
	fi
	[[ -x "$bin" ]] || die "$pkg installed but $bin is missing"
	local v
	v="$(dpkg-query -W -f '${Version}' "$pkg")"
	v="${v#*:}"
	[[ "${v%%+*}" == "$want" ]] || die "$pkg is $v, want $want (Debian bookworm's)"
	link_tool "$bin" "$tool"
	report "$tool" "$v" "$bin" "$status"
}

# Tests start their own etcd on random loopback ports; a packaged service
# listening on 2379/2380 with its own data would only get in the way (and
# waste memory on CI). Images without systemd have no service to stop.
stop_etcd_service() {
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		"$@" systemctl disable --now etcd.service >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		"$@" service etcd stop >/dev/null 2>&1 || true
	fi
}

install_one() {
	case "$1" in
	rqlited) cached_build rqlited "$RQLITE_VERSION" rqlited build_rqlited ;;
	# -static in the key: the cgo builds of v5.8.2 before it are not usable in
	# the sidecar image, and must not be picked up from an older cache.
	kustomize) cached_build kustomize "$KUSTOMIZE_VERSION-static" kustomize \
		build_go_install_static "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" "-s -w" ;;
	kpt) install_kpt ;;
	kube-apiserver | kube-controller-manager)
		cached_build "$1" "$KUBERNETES_VERSION" "$1" build_kube "$1" ;;
	kube-apiserver-1.30) cached_build kube-apiserver "$KUBERNETES_OLDEST_VERSION" kube-apiserver-1.30 \
		build_kube_apiserver_oldest ;;
	etcd) install_etcd ;;
	argocd-cmp-server) cached_build argocd-cmp-server "$(argocd_key argocd-cmp-server build_argocd_cmp_server)" \
		argocd-cmp-server build_argocd_cmp_server ;;
	argocd-cmpclient) cached_build argocd-cmpclient "$(argocd_key cmpclient build_argocd_cmpclient)" \
		argocd-cmpclient build_argocd_cmpclient ;;
	busybox) install_busybox ;;
	kube-scheduler | kubelet | kube-proxy)
		cached_build "$1" "$KUBERNETES_VERSION" "$1" build_kube "$1" ;;
	containerd)
		cached_build containerd "$CONTAINERD_VERSION" containerd build_containerd
		local b
		for b in containerd-shim-runc-v2 ctr; do link_tool "$TOOLS_CACHE/containerd-$CONTAINERD_VERSION/$b" "$b"; done
		;;
	coredns) cached_build coredns "$COREDNS_VERSION" coredns \
		build_go_install_static "github.com/coredns/coredns@$COREDNS_VERSION" \
		"-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" ;;
	rqlited-static) cached_build rqlited "$RQLITE_VERSION-static" rqlited-static build_rqlited_static ;;
	pause) cached_build pause "$(sha256sum "$TOOLS_SRC/pause/pause.c" | cut -c1-12)" pause build_pause ;;
	# Debian's runc 1.1.5 and CNI plugins 1.1.1 (bridge, host-local, loopback,
	# portmap); the node gives containerd /usr/lib/cni as its CNI bin_dir.
	runc) install_deb runc runc "$RUNC_VERSION" /usr/sbin/runc ;;
	cni-plugins) install_deb cni-bridge containernetworking-plugins "$CNI_PLUGINS_VERSION" /usr/lib/cni/bridge ;;
	kube-score) cached_build kube-score "$KUBE_SCORE_VERSION" kube-score \
		build_go_install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" \
		"-s -w -X main.version=${KUBE_SCORE_VERSION#v}" ;;
	benchstat) cached_build benchstat "$BENCHSTAT_VERSION" benchstat \
		build_go_install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" "-s -w" ;;
	staticcheck) cached_build staticcheck "$STATICCHECK_VERSION" staticcheck \
		build_go_install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" "-s -w" ;;
	*) die "unknown tool '$1'" ;;
	esac
}

main() {
	local -a want=()
	local arg t
	for arg in "$@"; do
		case "$arg" in
		-h | --help)
			usage
			exit 0
			;;
		kubernetes) want+=(kube-apiserver kube-controller-manager) ;;
		argocd) want+=(argocd-cmp-server argocd-cmpclient busybox) ;;
		node) want+=(kube-scheduler kubelet kube-proxy containerd coredns rqlited-static pause runc cni-plugins busybox) ;;
		*)
			[[ " ${ALL_TOOLS[*]} " == *" $arg "* ]] || {
				usage
				die "unknown tool '$arg'"
			}
			want+=("$arg")
			;;
		esac
	done
	if [[ ${#want[@]} -eq 0 ]]; then want=("${ALL_TOOLS[@]}"); fi
	command -v go >/dev/null || die "go not found on PATH"

	# Serially on purpose: every build already uses all cores, and running
	# them side by side on a 2-core CI machine only adds memory pressure.
	local -A seen=()
	for t in "${want[@]}"; do
		[[ -z "${seen[$t]:-}" ]] || continue
		seen[$t]=1
		install_one "$t"
	done
}

# "exit" on the same line: bash reads a script while running it, so a run in
# progress while the file is edited (git checkout) must not read on.
{ main "$@"; exit; }
