#!/usr/bin/env bash
# Runs every unit-test binary and integration script, counts their TAP
# "ok"/"not ok" lines, and ends with one line "N passed, N failed".
# A program that exits non-zero without reporting a failure (a crash, a
# sanitizer report) counts as one failure of its own.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${PUSHPULL_BIN:?set by make test}"
: "${PUSHPULL_UNIT:?set by make test}"
export PUSHPULL_BIN
out="$here/out"; mkdir -p "$out"
py=/usr/bin/python3   # Debian's python: it has python3-websockets
filter="${TESTS:-}"   # TESTS=substring runs only matching programs

passed=0; failed=0; failed_names=()
run_one() {  # name, command...
    local name=$1; shift
    local log="$out/${name//\//_}.log"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local ok nok
    ok=$(grep -c '^ok ' "$log"); nok=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
        nok=1; echo "not ok - $name exited $rc without reporting" >>"$log"
    fi
    passed=$((passed + ok)); failed=$((failed + nok))
    printf '%-34s %3d ok %3d failed  (%ds)\n' "$name" "$ok" "$nok" $((SECONDS - start))
    if [ "$nok" -gt 0 ]; then
        failed_names+=("$name")
        grep -E '^(not ok|#)' "$log" | head -40 | sed 's/^/    /'
        echo "    (full log: $log)"
    fi
}

for t in "$PUSHPULL_UNIT"/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t"); [[ -z "$filter" || "$n" == *"$filter"* ]] || continue
    run_one "unit/$n" "$t"
done
for t in "$here"/integration/test_*.py; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .py); [[ -z "$filter" || "$n" == *"$filter"* ]] || continue
    run_one "integration/$n" "$py" "$t"
done

[ ${#failed_names[@]} -gt 0 ] && echo "failed programs: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
