#!/usr/bin/env bash
# Measures rqlite-fn: the pipeline in-process, ResourceLists of 1 to 1,000 specs through the KRM
# code path, the release binary as a process (time, CPU, peak RSS, start-up), `kustomize build` of
# every overlay with the function against the same output as static YAML, the binary's size, and
# the function image (`make image`): its size, `docker run` of it against the bare binary, and
# `kustomize build` in container form against the exec form.
# Prints a Markdown report and writes it to bench/results/latest.md (gitignored); the numbers in
# docs/benchmarks.md come from it. `make bench` runs this after `make build`.
#
#   bash bench/run.sh
#
# Environment:
#   BENCH_COUNT=10        runs of each benchmark (medians and confidence intervals over them)
#   BENCH_HEAVY_COUNT=3   runs of the 1,000-spec benchmarks (several seconds each)
#   BENCH_STRICT=1        exit 1 when a target of the issue is missed (default: report only)
#   BENCH_NO_INSTALL=1    install nothing; use what is on PATH (hyperfine and GNU time optional)
#
# Exit status: 1 if the allocation budget (bench/budget_test.go) is exceeded, the function image is
# over 20 MB, or, with BENCH_STRICT=1, a target is missed; the report is written either way.
#
# The image figures need a running Docker Engine (no registry: the image is built here). The run
# holds the lock internal/images takes for the image's published name, so that tests of another
# worktree do not re-tag it meanwhile (and wait for it).
#
# On a fresh machine the first run builds kustomize and benchstat (hack/install-tools.sh, cached
# outside the repository) and apt-installs hyperfine and GNU time when it runs as root or with
# password-less sudo; without them the report leaves out hyperfine and peak RSS.

# shellcheck disable=SC2317 # cleanup runs from a trap
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"

COUNT="${BENCH_COUNT:-10}"
HEAVY_COUNT="${BENCH_HEAVY_COUNT:-3}"
RESULTS="$REPO_ROOT/bench/results"
# x/perf has no tags; the same pin as hack/install-tools.sh, for when that script lacks benchstat.
BENCHSTAT_VERSION=v0.0.0-20260512194132-3cf34090a3db

note() { echo "bench: $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v go >/dev/null || die "go not found on PATH"
mkdir -p "$RESULTS"

# --- tools -------------------------------------------------------------------------------------

TOOLS_BIN="$REPO_ROOT/.tools/bin"
install_tools() {
	[[ "${BENCH_NO_INSTALL:-}" != 1 ]] || return 0
	note "installing kustomize and benchstat (hack/install-tools.sh, cached)"
	bash hack/install-tools.sh kustomize >&2
	if ! bash hack/install-tools.sh benchstat >&2 2>"$WORK/benchstat.log"; then
		# An install-tools.sh without benchstat: the same pinned build, cached the same way.
		local dir="${RQLITE_KRM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rqlite-krm}/tools/benchstat-$BENCHSTAT_VERSION"
		if [[ ! -x "$dir/benchstat" ]]; then
			note "building benchstat $BENCHSTAT_VERSION into $dir"
			mkdir -p "$dir.tmp"
			(cd "$dir.tmp" && GOWORK=off GOFLAGS='' GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" \
				"golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION") || die "building benchstat failed"
			mv -T "$dir.tmp" "$dir"
		fi
		mkdir -p "$TOOLS_BIN"
		ln -sfn "$dir/benchstat" "$TOOLS_BIN/benchstat"
	fi
}

# apt_install <package> <command>: optional tools; a failure only costs a section of the report.
apt_install() {
	local pkg=$1 cmd=$2
	[[ "${BENCH_NO_INSTALL:-}" != 1 ]] || return 0
	command -v apt-get >/dev/null || return 0
	local -a sudo=()
	if [[ $EUID -ne 0 ]]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			note "$cmd missing and not root: apt-get install $pkg for that part of the report"
			return 0
		fi
	fi
	note "apt-get install $pkg"
	# A fresh image often ships without package lists.
	if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		"${sudo[@]}" apt-get update >"$WORK/apt.log" 2>&1 || true
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		-o DPkg::Lock::Timeout=300 "$pkg" >>"$WORK/apt.log" 2>&1 ||
		note "apt-get install $pkg failed (see above); continuing without $cmd"
}

install_tools
KUSTOMIZE_BIN="$(command -v "$TOOLS_BIN/kustomize" || command -v kustomize || true)"
BENCHSTAT_BIN="$(command -v "$TOOLS_BIN/benchstat" || command -v benchstat || true)"
[[ -n "$KUSTOMIZE_BIN" ]] || die "kustomize not found (hack/install-tools.sh kustomize)"

is_gnu_time() { [[ -x /usr/bin/time ]] && /usr/bin/time --version 2>&1 | grep -q GNU; }
is_gnu_time || apt_install time /usr/bin/time
command -v hyperfine >/dev/null || apt_install hyperfine hyperfine
TIME_BIN=""
if is_gnu_time; then TIME_BIN=/usr/bin/time; fi

# --- binaries ----------------------------------------------------------------------------------

# The release binary exactly as `make build` writes it, and the same build with symbols for the
# size breakdown.
note "building bin/rqlite-fn"
if command -v make >/dev/null; then
	make -s build >&2
else
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/rqlite-fn ./fn
fi
FN_BIN="$REPO_ROOT/bin/rqlite-fn"
CGO_ENABLED=0 go build -trimpath -o "$WORK/rqlite-fn-symbols" ./fn

# The function image, built from that binary as a release builds it.
command -v docker >/dev/null || die "no docker CLI on PATH: the image figures need a Docker Engine"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the Docker Engine does not answer (docker version): start it"
IMAGE="$(make -s --no-print-directory --eval 'print-image: ; @echo $(IMAGE)' print-image)"
# The same lock file as internal/images.Tag: os.TempDir() and the first 8 bytes of the name's SHA-256.
exec {image_lock}>"${TMPDIR:-/tmp}/rqlite-krm-image-tag-$(printf %s "$IMAGE" | sha256sum | cut -c1-16).lock"
flock -n "$image_lock" || { note "waiting for a test run that uses $IMAGE"; flock "$image_lock"; }
note "building $IMAGE (make image)"
make -s image >&2

export RQLITE_FN_BIN="$FN_BIN" KUSTOMIZE_BIN TIME_BIN RQLITE_FN_IMAGE="$IMAGE"

# --- measurements ------------------------------------------------------------------------------

RAW="$RESULTS/raw.txt"
BUDGET="$RESULTS/budget.txt"
: >"$RAW"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
START=$SECONDS

note "allocation budget"
budget_ok=1
go test -tags bench -count=1 -run '^TestAllocationBudget$' -v ./bench/ >"$BUDGET" 2>&1 || budget_ok=0
grep -E 'allocs \(budget|FAIL' "$BUDGET" >&2 || true

# bench <count> <benchtime> <pattern>: one `go test` run, appended to $RAW, progress on stderr.
bench() {
	note "go test -bench '$3' -count $1 -benchtime $2"
	go test -tags bench -run '^$' -bench "$3" -benchmem -count "$1" -benchtime "$2" -timeout 60m ./bench/ |
		tee -a "$RAW" | grep --line-buffered -E '^(Benchmark|FAIL|panic|---)' >&2 || true
	if grep -qE '^(FAIL|panic)' "$RAW"; then die "benchmarks failed; see $RAW"; fi
}
bench "$COUNT" 300ms '^(BenchmarkSpec|BenchmarkKustomizeInput)$'
bench "$COUNT" 300ms '^BenchmarkResourceList$/^specs=(1|10|100)$'
bench "$HEAVY_COUNT" 1x '^BenchmarkResourceList$/^specs=1000$'
bench "$COUNT" 20x '^BenchmarkProcess$/^version$'
bench "$COUNT" 20x '^BenchmarkProcess$/^krm$/^specs=1$'
bench "$COUNT" 20x '^BenchmarkProcess$/^krm$/^voters=(3|99)$'
bench "$HEAVY_COUNT" 1x '^BenchmarkProcess$/^krm$/^specs=1000$'
bench "$COUNT" 5x '^BenchmarkKustomize$'
# One alternating pair per run: -count pairs, medians over them.
bench "$COUNT" 1x '^BenchmarkContainer$'

# hyperfine as a second opinion on the process figures (it subtracts its shell's start-up).
HYPERFINE_ARGS=()
if command -v hyperfine >/dev/null; then
	note "hyperfine"
	# The same input as BenchmarkProcess/krm/specs=1: what kustomize sends for base/spec.
	spec="$(grep -vE '^[[:space:]]*(#|$)' base/spec/rqlite.yaml)"
	{
		printf 'apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n'
		printf '  %s\n' "${spec//$'\n'/$'\n'  }"
		printf 'items:\n'
		sed '1s/^/- /; 2,$s/^/  /' <<<"$spec"
	} >"$WORK/one-spec.yaml"
	"$FN_BIN" <"$WORK/one-spec.yaml" >/dev/null || die "rqlite-fn rejects the hyperfine input"
	mkdir -p "$WORK/static"
	printf 'resources:\n- static.yaml\n' >"$WORK/static/kustomization.yaml"
	cp testdata/overlays/three-node.yaml "$WORK/static/static.yaml"
	hyperfine --style basic --warmup 3 --runs 30 --export-json "$RESULTS/hyperfine-process.json" \
		"$FN_BIN version" "$FN_BIN < $WORK/one-spec.yaml" >&2
	PATH="$(dirname "$FN_BIN"):$PATH" hyperfine --style basic --warmup 2 --runs 10 \
		--export-json "$RESULTS/hyperfine-kustomize.json" \
		"$KUSTOMIZE_BIN build --enable-alpha-plugins --enable-exec overlays/three-node" \
		"$KUSTOMIZE_BIN build --enable-alpha-plugins --enable-exec $WORK/static" >&2
	HYPERFINE_ARGS=(-hyperfine "$RESULTS/hyperfine-process.json" -hyperfine "$RESULTS/hyperfine-kustomize.json")
fi

BENCHSTAT_OUT="$RESULTS/benchstat.txt"
: >"$BENCHSTAT_OUT"
if [[ -n "$BENCHSTAT_BIN" ]]; then
	"$BENCHSTAT_BIN" "$RAW" >"$BENCHSTAT_OUT" 2>&1 || note "benchstat failed; its section is left out"
fi

# --- report ------------------------------------------------------------------------------------

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
mem="$(awk '/^MemTotal/ {printf "%.0f GB", $2/1e6}' /proc/meminfo 2>/dev/null)"
kver="$("$KUSTOMIZE_BIN" version 2>/dev/null | head -n1)"
STRICT=()
[[ "${BENCH_STRICT:-}" != 1 ]] || STRICT=(-strict)
report_ok=1
go run ./bench/report -raw "$RAW" -bin "$FN_BIN" -syms "$WORK/rqlite-fn-symbols" -budget "$BUDGET" -image "$IMAGE" \
	-benchstat "$BENCHSTAT_OUT" "${HYPERFINE_ARGS[@]}" "${STRICT[@]}" \
	-meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
	-meta "commit=$(git describe --always --dirty 2>/dev/null || echo n/a)" \
	-meta "machine=$(nproc) cores, ${cpu:-unknown CPU}, ${mem:-? GB} RAM, $(uname -sr)" \
	-meta "load average=1, 5 and 15 min: $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a) after" \
	-meta "versions=$(go version | cut -d' ' -f3-), kustomize ${kver:-?}, $("$FN_BIN" version), Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), $(docker info --format 'storage driver {{.Driver}}' 2>/dev/null)" \
	-meta "runs=-count $COUNT ($HEAVY_COUNT for 1,000 specs); took $((SECONDS - START)) s" \
	-out "$RESULTS/latest.md" || report_ok=0
cp "$RESULTS/latest.md" "$RESULTS/$(date -u '+%Y%m%dT%H%M%SZ').md" 2>/dev/null || true
note "report: $RESULTS/latest.md"

[[ $budget_ok == 1 ]] || die "allocation budget exceeded: $BUDGET"
[[ $report_ok == 1 ]] || exit 1
