#!/usr/bin/env bash
# Short-poll throughput of pushpull-server against nginx's static answer,
# measured side by side in one run with the same wrk load (figures, not a
# pass/fail test). Loopback only; bounded: ROUNDS x 2 x DURATION.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PUSHPULL_BIN:=$here/../bin}"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-50}

command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh --bench" >&2; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is missing: scripts/install-deps.sh --bench" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
cleanup() {
    [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_server SRV --history 1024
for i in $(seq 10); do curl -s -o /dev/null -X POST --data-binary "message $i" "$SRV_URL/pub/bench"; done
body=$(curl -s "$SRV_URL/poll/bench?since=10")

# nginx with one worker (our server is one thread) and keep-alive that
# does not end after its default 1000 requests: a like-for-like reference.
nport=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$nport;
        location / { default_type application/json; return 200 '$body'; }
    }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work" 2>/dev/null || { echo "nginx failed to start" >&2; exit 1; }
sleep 0.2

rps() {  # url
    wrk -t1 -c"$CONNS" -d"$DURATION" "$1" | awk '/^Requests\/sec:/ {print $2}'
}

ours=(); theirs=()
echo "wrk -t1 -c$CONNS -d$DURATION, $ROUNDS rounds, alternating"
echo "pushpull: GET /poll/bench?since=10 on a channel with 10 retained messages"
echo "nginx:    return 200 with the same body ($(printf %s "$body" | wc -c) bytes), 1 worker"
for r in $(seq "$ROUNDS"); do
    # Alternate who goes first, so a drift in machine load favours neither.
    if [ $((r % 2)) -eq 1 ]; then
        a=$(rps "$SRV_URL/poll/bench?since=10"); b=$(rps "http://127.0.0.1:$nport/")
    else
        b=$(rps "http://127.0.0.1:$nport/"); a=$(rps "$SRV_URL/poll/bench?since=10")
    fi
    printf 'round %d: pushpull %10.0f req/s   nginx %10.0f req/s   ratio %.2f\n' "$r" "$a" "$b" \
        "$(echo "$a / $b" | bc -l)"
    ours+=("$a"); theirs+=("$b")
done
ma=$(printf '%s\n' "${ours[@]}" | median)
mb=$(printf '%s\n' "${theirs[@]}" | median)
printf 'median:  pushpull %10.0f req/s   nginx %10.0f req/s   ratio %.2f (target >= 1.00)\n' \
    "$ma" "$mb" "$(echo "$ma / $mb" | bc -l)"
conns=$(curl -s "$SRV_URL/stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"]["http"])')
echo "server connections open after the runs: $conns (keep-alive: wrk's $CONNS were reused)"
