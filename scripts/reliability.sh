#!/usr/bin/env bash
# The long reliability runs (docs/RELIABILITY.md): what `cargo test -p
# reliability` checks at small sizes, at the large ones, in release.
#
#   scripts/reliability.sh [--soak SECONDS] [--connections N] [--fuzz SECONDS]
#
#   --soak SECONDS     chaos soak duration (default 300; 0 skips it)
#   --connections N    concurrent connections per server (default 10000)
#   --fuzz SECONDS     per-target run of scripts/fuzz.sh (default 60; 0 skips it)
#
# Steps, each printing its `figure:` lines:
#   1. every reliability scenario at its CI size, in release;
#   2. N connections to each of the four servers (the client ends are held
#      by a child process; each process raises its own RLIMIT_NOFILE to
#      N + 512, within the hard limit unless it may raise that too);
#   3. the tests ignored for known bugs in other crates (their failures are
#      reported, and do not fail this script);
#   4. the soak;
#   5. the fuzz targets of slow-proto.
# A summary of every figure comes last. Exit status: 0 when steps 1, 2, 4
# and 5 passed, 1 otherwise, 2 on bad usage.
set -uo pipefail

usage() {
    echo "usage: $0 [--soak SECONDS] [--connections N] [--fuzz SECONDS]" >&2
    exit 2
}
soak=300
connections=10000
fuzz=60
while [[ $# -gt 0 ]]; do
    case $1 in
    --soak) soak=${2:-}; shift 2 || usage ;;
    --connections) connections=${2:-}; shift 2 || usage ;;
    --fuzz) fuzz=${2:-}; shift 2 || usage ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
for n in "$soak" "$connections" "$fuzz"; do
    [[ $n =~ ^[0-9]+$ ]] || usage
done

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log=$(mktemp)
trap 'rm -f -- "$log"' EXIT
failed=0

step() { printf '\n==> %s\n' "$*" | tee -a "$log"; }
# Runs a command, keeping its output (and so its figures) in the log.
run() {
    "$@" 2>&1 | tee -a "$log"
    return "${PIPESTATUS[0]}"
}

step "load: $(uptime)"
echo "cores: $(nproc); RLIMIT_NOFILE: $(ulimit -n) (hard $(ulimit -Hn))" | tee -a "$log"

step "1. every scenario at CI size, release"
run cargo test --release --no-fail-fast -p reliability -- --nocapture || failed=1

step "2. $connections connections per server"
RELIABILITY_CONNECTIONS=$connections run cargo test --release -p reliability --test memory many_connections -- \
    --nocapture --test-threads=1 || failed=1

step "3. tests ignored for known bugs (failures expected until fixed)"
run cargo test --release --no-fail-fast -p reliability --test memory --test cpu --test shutdown -- \
    --ignored --nocapture ||
    echo "known-bug tests failed (see the #[ignore] reasons)" | tee -a "$log"

if [[ $soak -gt 0 ]]; then
    step "4. soak, ${soak}s"
    RELIABILITY_SOAK_SECS=$soak run cargo test --release -p reliability --test soak -- --ignored --nocapture ||
        failed=1
fi

if [[ $fuzz -gt 0 ]]; then
    step "5. fuzz, ${fuzz}s per target"
    if [[ -x scripts/fuzz.sh || -f scripts/fuzz.sh ]]; then
        run bash scripts/fuzz.sh "$fuzz" || failed=1
    else
        echo "scripts/fuzz.sh not found: skipped" | tee -a "$log"
        failed=1
    fi
fi

step "load at the end: $(uptime)"
printf '\n==> figures\n'
grep -oE '(figure|fuzz): .*' "$log" || true
exit "$failed"
