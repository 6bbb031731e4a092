#!/usr/bin/env bash
# pushpull-client's own speed, measured side by side in one run (figures,
# not a pass/fail test). Loopback only, bounded in time.
#  1. Short-poll request rate, back to back (--poll-interval 0), against wrk
#     with the same connection count on the same server and URL shape.
#  2. Client CPU per delivered message against the server's, for SSE and
#     WebSocket at 100 subscribers and 1000 msg/s: the client must not be
#     the bottleneck of its own measurement.
#  3. The instrument against a yardstick: pushpull-client's p50 beside the
#     minimal raw-socket subscriber bench/rawsub.c, both on the same
#     channel at the same time (so on the same messages), for SSE and
#     WebSocket at 1 x 1000 msg/s and 100 x 100 msg/s. Who subscribes first
#     alternates by round (the server fans out in subscription order).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PUSHPULL_BIN:=$here/../bin}"
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh --bench" >&2; exit 1; }

work=$(mktemp -d)
start_server SRV
SRV_PORT=${SRV_URL##*:}
trap 'kill "$SRV_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

field() {  # json-file python-expression-on-run
    /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; print($2)" "$1"
}

echo "== 1. short-poll request rate: pushpull-client --poll-interval 0 vs wrk -t1 -c$CONNS"
for i in $(seq 10); do curl -s -o /dev/null -X POST --data-binary "m$i" "$SRV_URL/pub/wrkref"; done
ours=(); theirs=()
for r in $(seq "$ROUNDS"); do
    client_rps() {
        "$PUSHPULL_BIN/pushpull-client" --url "$SRV_URL" --transport poll --quiet \
            --subscribers "$CONNS" --connections "$CONNS" --poll-interval 0 --rate 1 \
            --warmup 1s --duration "${DURATION}s" --drain 0 --json "$work/poll.json" >/dev/null
        field "$work/poll.json" "r['cost']['requests'] / r['elapsed_s']"
    }
    wrk_rps() {
        wrk -t1 -c"$CONNS" -d"${DURATION}s" "$SRV_URL/poll/wrkref?since=10" | awk '/^Requests\/sec:/ {print $2}'
    }
    # Alternate who goes first, so a drift in machine load favours neither.
    if [ $((r % 2)) -eq 1 ]; then a=$(client_rps); b=$(wrk_rps); else b=$(wrk_rps); a=$(client_rps); fi
    printf 'round %d: client %9.0f req/s   wrk %9.0f req/s   ratio %.2f\n' "$r" "$a" "$b" "$(echo "$a / $b" | bc -l)"
    ours+=("$a"); theirs+=("$b")
done
ma=$(printf '%s\n' "${ours[@]}" | median); mb=$(printf '%s\n' "${theirs[@]}" | median)
printf 'median:  client %9.0f req/s   wrk %9.0f req/s   ratio %.2f (target >= 0.60)\n' \
    "$ma" "$mb" "$(echo "$ma / $mb" | bc -l)"

echo
echo "== 2. CPU per delivered message, 100 subscribers, 1000 msg/s, 64 B"
for t in sse ws; do
    "$PUSHPULL_BIN/pushpull-client" --url "$SRV_URL" --transport "$t" --quiet \
        --subscribers 100 --rate 1000 --warmup 1s --duration "${DURATION}s" \
        --json "$work/$t.json" >/dev/null
    c=$(field "$work/$t.json" "r['cost']['client_cpu_us_per_delivered']")
    s=$(field "$work/$t.json" "r['cost']['server_cpu_us_per_delivered']")
    d=$(field "$work/$t.json" "r['throughput']['delivered_per_s']")
    lost=$(field "$work/$t.json" "r['delivery']['lost']")
    printf '%-4s delivered %8.0f/s  lost %s  client %.2f µs/msg  server %.2f µs/msg  client/server %.2f\n' \
        "$t" "$d" "$lost" "$c" "$s" "$(echo "$c / $s" | bc -l)"
done

echo
echo "== 3. client p50 / raw subscriber p50 (bench/rawsub.c), same channel, same messages"
: "${RAWSUB:?make bench-client sets RAWSUB (bench/rawsub.c)}"
rawsub_p50() {  # transport subscribers rate tag -> prints p50 µs
    "$RAWSUB" --port "$SRV_PORT" --channel "$4-$1-0" --transport "$1" --subscribers "$2" \
        --rate "$3" --warmup 1 --duration "$DURATION" --timeout $((DURATION + 20)) \
        | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["p50_us"] if d["count"] == d["expected"] else "nan")'
}
client_p50() {  # transport subscribers rate tag -> prints p50 µs
    "$PUSHPULL_BIN/pushpull-client" --url "$SRV_URL" --run-tag "$4" --transport "$1" --quiet \
        --subscribers "$2" --rate "$3" --warmup 1s --duration "${DURATION}s" --json "$work/c-$4.json" >/dev/null
    field "$work/c-$4.json" "r['latency_us']['p50']"
}
for point in "sse 1 1000" "ws 1 1000" "sse 100 100" "ws 100 100"; do
    set -- $point
    ratios=()
    for r in $(seq "$ROUNDS"); do
        tag="bc$$r$r$1$2"
        if [ $((r % 2)) -eq 1 ]; then
            rawsub_p50 "$1" "$2" "$3" "$tag" >"$work/raw" & bg=$!; sleep 0.3
            c=$(client_p50 "$1" "$2" "$3" "$tag"); wait "$bg"; raw=$(cat "$work/raw")
        else
            client_p50 "$1" "$2" "$3" "$tag" >"$work/cli" & bg=$!; sleep 0.2
            raw=$(rawsub_p50 "$1" "$2" "$3" "$tag"); wait "$bg"; c=$(cat "$work/cli")
        fi
        ratio=$(/usr/bin/python3 -c "print('%.2f' % ($c / $raw))" 2>/dev/null || echo nan)
        printf '%-3s %3s x %4s msg/s  round %d: client p50 %6s µs  raw p50 %6s µs  ratio %s\n' \
            "$1" "$2" "$3" "$r" "$c" "$raw" "$ratio"
        ratios+=("$ratio")
    done
    printf '%-3s %3s x %4s msg/s  median ratio %.2f (target <= 1.25)\n' "$1" "$2" "$3" \
        "$(printf '%s\n' "${ratios[@]}" | median)"
done
