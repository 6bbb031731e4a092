#!/usr/bin/env bash
# Runs each named libFuzzer driver for FUZZ_SECONDS on its corpus, one at a
# time (each fuzzer uses a core; the machine has two). The committed corpus
# is copied into $FUZZ_OUT/corpus/<driver>/ first, so what a run adds stays
# in build/. Prints one line per driver and exits non-zero if any crashed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:?set by make fuzz}
secs=${FUZZ_SECONDS:-60}
mkdir -p "$out/crashes" "$out/logs"

# A handshake answer only fails on its size past WS_RESPONSE_MAX (8192):
# inputs must be allowed to grow beyond libFuzzer's default 4096.
extra_args() {
    case $1 in
        fuzz_ws_handshake) echo "-max_len=9000" ;;
    esac
}

crashed=()
for name in "$@"; do
    corpus="$out/corpus/$name"
    mkdir -p "$corpus"
    cp -rn "$here/corpus/$name/." "$corpus/"
    dict=()
    [ -f "$here/$name.dict" ] && dict=("-dict=$here/$name.dict")
    log="$out/logs/$name.log"
    # shellcheck disable=SC2046
    "$out/bin/$name" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$name-" "${dict[@]}" $(extra_args "$name") \
        "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    printf '  FUZZ   %-20s %s runs, %s, exit %d\n' "$name" "${runs:-?}" "${cov:-cov: ?}" "$rc"
    if [ "$rc" -ne 0 ]; then
        crashed+=("$name")
        grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$log" | head -20 | sed 's/^/    /'
        echo "    (full log: $log)"
    fi
done
if [ ${#crashed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${crashed[*]}"
    exit 1
fi
echo "fuzz: ${#@} drivers, ${secs}s each, no crash"
