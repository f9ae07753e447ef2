#!/usr/bin/env bash
# Fuzzes the cargo-fuzz targets of slow-proto (slow-proto/fuzz).
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Installs cargo-fuzz if it is missing, builds every target, runs each named
# target (all of them by default) for SECONDS, and prints one line per target:
#
#   fuzz: TARGET runs=N cov=N crashes=N
#
# A crash (panic, or an input running over FUZZ_TIMEOUT seconds) stops that
# target; its input is saved under slow-proto/fuzz/artifacts/TARGET/ and the
# panic and the commands to reproduce and minimise it are printed. The corpus
# grows in slow-proto/fuzz/corpus/TARGET/ (not tracked).
#
# Exit status: 0 when no target crashed, 1 when one did (or did not run),
# 2 on bad usage.
#
# Toolchain: nightly when rustup has it, else the default one. There is no
# sanitizer by default (FUZZ_SANITIZER=none): the core is
# #![forbid(unsafe_code)], it runs several times faster, and cargo-fuzz then
# also works on a stable toolchain. FUZZ_SANITIZER=address needs nightly.
set -euo pipefail

usage() {
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
crate=$root/slow-proto
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-20}

cargo_cmd=(cargo)
if [[ -n ${FUZZ_TOOLCHAIN:-} ]]; then
    cargo_cmd=(cargo "+$FUZZ_TOOLCHAIN")
elif rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
    cargo_cmd=(cargo +nightly)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$crate"
mapfile -t all < <("${cargo_cmd[@]}" fuzz list)
if [[ $# -eq 0 ]]; then
    targets=("${all[@]}")
else
    targets=("$@")
    for t in "${targets[@]}"; do
        if ! printf '%s\n' "${all[@]}" | grep -x -- "$t" >/dev/null; then
            echo "fuzz: no target '$t' (targets: ${all[*]})" >&2
            exit 2
        fi
    done
fi

echo "fuzz: building ${all[*]} with ${cargo_cmd[*]}, sanitizer $sanitizer" >&2
"${cargo_cmd[@]}" fuzz build -s "$sanitizer"

logs=$(mktemp -d)
trap 'rm -rf -- "$logs"' EXIT

# The inputs libFuzzer saved for TARGET (none before its first run).
artifacts() {
    [[ -d fuzz/artifacts/$1 ]] || return 0
    find "fuzz/artifacts/$1" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | sort
}

failed=0
summary=()
for t in "${targets[@]}"; do
    log=$logs/$t.log
    before=$(artifacts "$t")
    echo "fuzz: running $t for ${seconds}s" >&2
    status=0
    "${cargo_cmd[@]}" fuzz run -s "$sanitizer" "$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 ||
        status=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+$' ||
        true)
    [[ -n $runs ]] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#' || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+' || true)
    new=$(comm -13 <(printf '%s\n' "$before") <(artifacts "$t") | sed '/^$/d')
    crashes=$(printf '%s' "$new" | grep -c . || true)
    line="fuzz: $t runs=${runs:-0} cov=${cov:-0} crashes=$crashes"
    if [[ $status -ne 0 || $crashes -gt 0 ]]; then
        failed=1
        if [[ $crashes -eq 0 ]]; then
            line="$line (exit status $status)"
            tail -n 30 "$log" >&2
        else
            grep -E -A4 "panicked at|ERROR: libFuzzer" "$log" | head -n 30 >&2 || true
            while read -r artifact; do
                echo "fuzz: reproduce: (cd slow-proto && ${cargo_cmd[*]} fuzz run -s $sanitizer $t $artifact)" >&2
                echo "fuzz: minimise:  (cd slow-proto && ${cargo_cmd[*]} fuzz tmin -s $sanitizer $t $artifact)" >&2
                echo "fuzz: show:      (cd slow-proto && ${cargo_cmd[*]} fuzz fmt -s $sanitizer $t $artifact)" >&2
            done <<<"$new"
        fi
    fi
    echo "$line" >&2
    summary+=("$line")
done

# The summary, one line per target, on standard output.
printf '%s\n' "${summary[@]}"
exit "$failed"
